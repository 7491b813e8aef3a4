//! The usernames Confluence accepts for new accounts, checked before asking
//! it (docs/confluence-api-notes.md §2.6): no whitespace, no upper-case letters,
//! none of `\ , + < > ' "`, and not `anonymous`. Refusing upper case here
//! avoids depending on how a server would fold it.

const FORBIDDEN: [char; 7] = ['\\', ',', '+', '<', '>', '\'', '"'];

/// Why Confluence would refuse `username`, or `Ok` when it would not.
pub(super) fn validate(username: &str) -> Result<(), String> {
    if username.is_empty() {
        return Err("the username is empty".into());
    }
    if username.chars().any(char::is_whitespace) {
        return Err(format!("username `{username}` contains whitespace"));
    }
    if username.chars().any(char::is_uppercase) {
        return Err(format!(
            "username `{username}` contains upper-case letters; Confluence usernames are lower case"
        ));
    }
    if let Some(bad) = username.chars().find(|letter| FORBIDDEN.contains(letter)) {
        return Err(format!(
            "username `{username}` contains `{bad}`; Confluence refuses \\ , + < > ' \""
        ));
    }
    if username == "anonymous" {
        return Err("`anonymous` is reserved by Confluence".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_usernames_pass() {
        for name in [
            "jdoe",
            "j.doe",
            "john.kim@example.com",
            "karen_kim",
            "über-user",
            "eng/ops",
        ] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn usernames_confluence_refuses_are_refused_with_the_reason() {
        let cases = [
            ("", "empty"),
            ("j doe", "whitespace"),
            ("jdoe\t", "whitespace"),
            ("JDoe", "upper-case"),
            ("Ünal", "upper-case"),
            ("a\\b", "`\\`"),
            ("a,b", "`,`"),
            ("a+b", "`+`"),
            ("<a>", "`<`"),
            ("o'brien", "`'`"),
            ("say\"hi", "`\"`"),
            ("anonymous", "reserved"),
        ];
        for (name, reason) in cases {
            let err = validate(name).expect_err(name);
            assert!(err.contains(reason), "{name}: {err}");
        }
    }
}
