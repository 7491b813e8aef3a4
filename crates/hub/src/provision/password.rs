//! Random passwords as ConductorOne asks for them (`random_password`), by the
//! Baton SDK's rule: `min_count` characters from each constraint's `char_set`
//! (with no constraints: one upper-case letter, one lower-case letter, one
//! digit, one symbol), the rest from all four sets, then shuffled. Every draw
//! comes from a cryptographically secure generator, and every buffer that holds
//! the password is zeroized when dropped.

use rand::CryptoRng;
use rand::seq::{IndexedRandom, SliceRandom};
use zeroize::Zeroizing;

use baton::pb::c1::connector::v2::credential_options::RandomPassword;
use platform::secret::Secret;

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";
const SYMBOLS: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The lengths ConductorOne may ask for.
const LENGTHS: std::ops::RangeInclusive<i64> = 8..=64;

/// Why a password request cannot be met.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum PasswordError {
    #[error("random_password.length is {0}; it must be between 8 and 64")]
    Length(i64),
    #[error("random_password constraint {0} has an empty char_set")]
    EmptyCharSet(usize),
    #[error(
        "random_password constraints ask for {needed} characters, more than its length {length}"
    )]
    TooManyRequired { needed: usize, length: i64 },
}

/// A password for `request`, drawn from `rng`.
pub(super) fn generate(
    request: &RandomPassword,
    rng: &mut impl CryptoRng,
) -> Result<Secret, PasswordError> {
    if !LENGTHS.contains(&request.length) {
        return Err(PasswordError::Length(request.length));
    }
    // Within 8..=64, so the conversion is exact.
    let length = request.length as usize;
    let mut required: Vec<(Vec<char>, usize)> = Vec::new();
    if request.constraints.is_empty() {
        for set in [UPPER, LOWER, DIGITS, SYMBOLS] {
            required.push((set.chars().collect(), 1));
        }
    } else {
        for (index, constraint) in request.constraints.iter().enumerate() {
            let set: Vec<char> = constraint.char_set.chars().collect();
            if set.is_empty() && constraint.min_count > 0 {
                return Err(PasswordError::EmptyCharSet(index));
            }
            required.push((set, constraint.min_count as usize));
        }
    }
    let needed: usize = required.iter().map(|(_, count)| count).sum();
    if needed > length {
        return Err(PasswordError::TooManyRequired {
            needed,
            length: request.length,
        });
    }
    let filler: Vec<char> = [UPPER, LOWER, DIGITS, SYMBOLS].concat().chars().collect();
    // Sized up front: a reallocation would leave an unzeroized copy behind.
    let mut password: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(length));
    for (set, count) in &required {
        for _ in 0..*count {
            password.extend(set.choose(rng));
        }
    }
    while password.len() < length {
        password.extend(filler.choose(rng));
    }
    password.shuffle(rng);
    let mut text = String::with_capacity(password.iter().map(|c| c.len_utf8()).sum());
    text.extend(password.iter());
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use baton::pb::c1::connector::v2::PasswordConstraint;

    fn request(length: i64, constraints: &[(&str, u32)]) -> RandomPassword {
        RandomPassword {
            length,
            constraints: constraints
                .iter()
                .map(|(char_set, min_count)| PasswordConstraint {
                    char_set: (*char_set).into(),
                    min_count: *min_count,
                })
                .collect(),
        }
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(42)
    }

    fn count_in(password: &str, set: &str) -> usize {
        password.chars().filter(|c| set.contains(*c)).count()
    }

    #[test]
    fn without_constraints_every_class_appears_and_the_length_is_exact() {
        let mut rng = rng();
        for length in [8, 9, 20, 64] {
            for _ in 0..200 {
                let password = generate(&request(length, &[]), &mut rng).unwrap();
                let password = password.expose();
                assert_eq!(password.chars().count() as i64, length);
                for set in [UPPER, LOWER, DIGITS, SYMBOLS] {
                    assert!(count_in(password, set) >= 1, "{set} missing");
                }
            }
        }
    }

    #[test]
    fn constraints_are_met_and_only_allowed_characters_appear() {
        let mut rng = rng();
        let wanted = request(12, &[("xyz", 3), ("789", 4), ("€", 1)]);
        let allowed: HashSet<char> = [UPPER, LOWER, DIGITS, SYMBOLS, "xyz789€"]
            .concat()
            .chars()
            .collect();
        for _ in 0..500 {
            let password = generate(&wanted, &mut rng).unwrap();
            let password = password.expose();
            assert_eq!(password.chars().count(), 12);
            assert!(count_in(password, "xyz") >= 3, "{password}");
            assert!(count_in(password, "789") >= 4, "{password}");
            assert!(count_in(password, "€") >= 1, "{password}");
            assert!(password.chars().all(|c| allowed.contains(&c)), "{password}");
        }
    }

    #[test]
    fn required_characters_are_shuffled_not_left_in_front() {
        let mut rng = rng();
        let wanted = request(16, &[("x", 4)]);
        let front_only = (0..200).all(|_| {
            generate(&wanted, &mut rng)
                .unwrap()
                .expose()
                .starts_with("xxxx")
        });
        assert!(!front_only);
    }

    #[test]
    fn draws_cover_the_whole_alphabet_without_repeats() {
        // A sanity check of the generator, not a proof of its quality: that is
        // the `CryptoRng` bound, which only cryptographic generators meet.
        let mut rng = StdRng::try_from_os_rng().unwrap();
        let mut seen = HashSet::new();
        let mut passwords = HashSet::new();
        for _ in 0..1000 {
            let password = generate(&request(64, &[]), &mut rng).unwrap();
            seen.extend(password.expose().chars());
            assert!(
                passwords.insert(password.expose().to_owned()),
                "a password repeated"
            );
        }
        assert_eq!(seen.len(), 94);
    }

    #[test]
    fn impossible_requests_are_refused() {
        let mut rng = rng();
        assert_eq!(
            generate(&request(7, &[]), &mut rng).unwrap_err(),
            PasswordError::Length(7)
        );
        assert_eq!(
            generate(&request(65, &[]), &mut rng).unwrap_err(),
            PasswordError::Length(65)
        );
        assert_eq!(
            generate(&request(8, &[("", 1)]), &mut rng).unwrap_err(),
            PasswordError::EmptyCharSet(0)
        );
        assert_eq!(
            generate(&request(8, &[("ab", 5), ("cd", 4)]), &mut rng).unwrap_err(),
            PasswordError::TooManyRequired {
                needed: 9,
                length: 8
            }
        );
    }
}
