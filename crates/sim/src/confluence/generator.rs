//! A seeded generator of realistic datasets: power-law group sizes, an `admin`
//! in both built-in groups, deactivated users, deleted users still named in
//! permissions, anonymous rows, archived and personal spaces, and group names
//! that break naive URL handling. The same options always give the same data.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom, index};
use rand::{Rng, SeedableRng};

use super::dataset::{
    ADMINISTRATORS_GROUP, Dataset, SimGroup, SimPermission, SimSpace, SimUser, USERS_GROUP,
    UnknownUser,
};
use baton::model::SpacePermission;

/// Sizes and seed of a generated dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Total users, `admin` included (at least 1).
    pub users: usize,
    /// Total groups, the two built-in groups included (at least 2).
    pub groups: usize,
    /// Total spaces, about half of them personal.
    pub spaces: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            users: 200,
            groups: 20,
            spaces: 20,
        }
    }
}

/// The password of the generated `admin` user.
pub const GENERATED_ADMIN_PASSWORD: &str = "admin";

/// First space ids in Confluence's usual range (the fixture starts here too).
const FIRST_SPACE_ID: u64 = 98305;

/// Names that need care in URLs: `/`, `&`, a space, `+` and non-ASCII come first
/// so even a small dataset has one of each.
const AWKWARD_GROUP_NAMES: [&str; 8] = [
    "team/platform",
    "R&D",
    "Sales EMEA",
    "c++ developers",
    "Développeurs Montréal",
    "営業部/東京",
    "ops/sre & on-call",
    "finance+legal",
];

const COMMON_GROUP_NAMES: [&str; 3] = [
    "all-staff",
    "jira-software-users",
    "confluence-space-creators",
];

const DEPARTMENTS: [&str; 15] = [
    "design",
    "it",
    "support",
    "qa",
    "infra",
    "web",
    "finance",
    "hr",
    "legal",
    "marketing",
    "sales",
    "data",
    "mobile",
    "security",
    "platform",
];

const SITES: [&str; 13] = [
    "tokyo", "amer", "emea", "apac", "berlin", "london", "nyc", "sf", "paris", "sydney", "oncall",
    "managers", "leads",
];

/// `(display, ascii)` pairs: display names carry diacritics, usernames do not.
const FIRST_NAMES: [(&str, &str); 36] = [
    ("Robert", "robert"),
    ("Jennifer", "jennifer"),
    ("Linda", "linda"),
    ("John", "john"),
    ("Karen", "karen"),
    ("Michael", "michael"),
    ("Emily", "emily"),
    ("Charles", "charles"),
    ("Olga", "olga"),
    ("Omar", "omar"),
    ("Sven", "sven"),
    ("Mary", "mary"),
    ("Anja", "anja"),
    ("William", "william"),
    ("Aarav", "aarav"),
    ("Lucía", "lucia"),
    ("Anaïs", "anais"),
    ("Zoë", "zoe"),
    ("Chloé", "chloe"),
    ("Yuki", "yuki"),
    ("Ingrid", "ingrid"),
    ("Ravi", "ravi"),
    ("Łukasz", "lukasz"),
    ("Renée", "renee"),
    ("Fatima", "fatima"),
    ("Priya", "priya"),
    ("Mei", "mei"),
    ("Mateo", "mateo"),
    ("Susan", "susan"),
    ("Thomas", "thomas"),
    ("Hanako", "hanako"),
    ("José", "jose"),
    ("Björn", "bjorn"),
    ("Søren", "soren"),
    ("Ayşe", "ayse"),
    ("Elizabeth", "elizabeth"),
];

const LAST_NAMES: [(&str, &str); 36] = [
    ("Horváth", "horvath"),
    ("Ivanova", "ivanova"),
    ("Clark", "clark"),
    ("Kim", "kim"),
    ("Ødegaard", "odegaard"),
    ("Lewis", "lewis"),
    ("Novák", "novak"),
    ("Williams", "williams"),
    ("Jones", "jones"),
    ("Nguyễn", "nguyen"),
    ("Núñez", "nunez"),
    ("Taylor", "taylor"),
    ("Müller", "muller"),
    ("Kowalski", "kowalski"),
    ("Martin", "martin"),
    ("Miller", "miller"),
    ("Smith", "smith"),
    ("Chen", "chen"),
    ("Costa", "costa"),
    ("Dubois", "dubois"),
    ("Lindqvist", "lindqvist"),
    ("Johnson", "johnson"),
    ("Patel", "patel"),
    ("Wilson", "wilson"),
    ("Davis", "davis"),
    ("Haddad", "haddad"),
    ("Anderson", "anderson"),
    ("Lee", "lee"),
    ("Rossi", "rossi"),
    ("Okafor", "okafor"),
    ("Schröder", "schroder"),
    ("O'Brien", "obrien"),
    ("Van der Berg", "vanderberg"),
    ("García", "garcia"),
    ("Yılmaz", "yilmaz"),
    ("Sato", "sato"),
];

const EMAIL_DOMAINS: [&str; 3] = ["example.com", "example.org", "corp.example.net"];

const SPACE_NAMES: [&str; 24] = [
    "Engineering",
    "Human Resources",
    "Marketing",
    "Sales",
    "Finance",
    "Legal",
    "Product",
    "Design",
    "Support",
    "Operations",
    "Research",
    "Security",
    "Data Platform",
    "Mobile",
    "Web",
    "Infrastructure",
    "Quality",
    "Customer Success",
    "Partners",
    "Internal IT",
    "Handbook",
    "Architecture",
    "Release Notes",
    "Onboarding",
];

impl Dataset {
    /// A dataset of the requested size, identical for identical options.
    pub fn generate(options: &GenerateOptions) -> Dataset {
        Generator::new(options.seed).run(options)
    }
}

struct Generator {
    rng: StdRng,
    key_prefix: u64,
    key_stamp: u64,
    key_counter: u64,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let key_prefix = rng.random();
        let key_stamp = rng.random_range(0x0100_0000_0000..0x0200_0000_0000);
        Self {
            rng,
            key_prefix,
            key_stamp,
            key_counter: 0,
        }
    }

    fn run(mut self, options: &GenerateOptions) -> Dataset {
        let users = self.users(options.users.max(1));
        let unknown_users = self.unknown_users(&users);
        let groups = self.groups(&users, options.groups.max(2));
        let spaces = self.spaces(&users, options.spaces);
        let permissions = self.permissions(&users, &groups, &spaces, &unknown_users);
        Dataset {
            users,
            groups,
            spaces,
            permissions,
            unknown_users,
        }
    }

    /// 32 hex digits shaped like Confluence's keys: a per-instance prefix, an
    /// increasing creation stamp and a counter, so keys are unique and sortable.
    fn next_user_key(&mut self) -> String {
        self.key_stamp += self.rng.random_range(1..0x4000);
        self.key_counter += 1;
        format!(
            "{:016x}{:012x}{:04x}",
            self.key_prefix,
            self.key_stamp,
            self.key_counter & 0xffff
        )
    }

    fn users(&mut self, count: usize) -> Vec<SimUser> {
        let mut taken = HashSet::from(["admin".to_owned(), "anonymous".to_owned()]);
        let mut users = vec![SimUser {
            user_key: self.next_user_key(),
            username: "admin".into(),
            display_name: "admin".into(),
            email: "admin@example.com".into(),
            active: true,
            password: Some(GENERATED_ADMIN_PASSWORD.into()),
        }];
        while users.len() < count {
            let (first, first_ascii) =
                *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&("Ann", "ann"));
            let (last, last_ascii) = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&("Lee", "lee"));
            let domain = EMAIL_DOMAINS
                .choose(&mut self.rng)
                .unwrap_or(&"example.com");
            let style = self.rng.random_range(0..100);
            let base = match style {
                0..40 => format!("{first_ascii}.{last_ascii}"),
                40..60 => format!("{}{last_ascii}", &first_ascii[..1]),
                60..75 => format!("{first_ascii}_{last_ascii}"),
                75..90 => format!(
                    "{first_ascii}-{last_ascii}{:02}",
                    self.rng.random_range(0..100)
                ),
                _ => format!("{first_ascii}.{last_ascii}@{domain}"),
            };
            let username = unique_name(&mut taken, base);
            let email = if username.contains('@') {
                username.clone()
            } else {
                format!("{}@{domain}", username.replace(['_', '-'], "."))
            };
            users.push(SimUser {
                user_key: self.next_user_key(),
                username,
                display_name: format!("{first} {last}"),
                email,
                active: !self.rng.random_bool(0.04),
                password: None,
            });
        }
        if count >= 10 && users.iter().all(|user| user.active) {
            users[count / 2].active = false;
        }
        users
    }

    /// Deleted users: keys the permission table still names. `exporter` echoes
    /// the orphan mapping in the reference fixture.
    fn unknown_users(&mut self, users: &[SimUser]) -> Vec<UnknownUser> {
        let mut taken: HashSet<String> = users.iter().map(|user| user.username.clone()).collect();
        let mut unknown = vec![UnknownUser {
            user_key: self.next_user_key(),
            username: unique_name(&mut taken, "exporter".into()),
        }];
        for _ in 0..users.len() / 100 {
            let (_, first) = *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&("Ann", "ann"));
            let (_, last) = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&("Lee", "lee"));
            let username = unique_name(&mut taken, format!("former.{first}.{last}"));
            unknown.push(UnknownUser {
                user_key: self.next_user_key(),
                username,
            });
        }
        unknown
    }

    fn groups(&mut self, users: &[SimUser], count: usize) -> Vec<SimGroup> {
        let user_count = users.len();
        let admins = {
            let extra = self.sample(user_count - 1, user_count / 200);
            let mut members = vec![0];
            members.extend(extra.into_iter().map(|index| index + 1));
            members
        };
        // A few users hold no licence: everyone but ~1% (never admin) is a confluence user.
        let licensed: Vec<usize> = (0..user_count)
            .filter(|&index| index == 0 || !self.rng.random_bool(0.01))
            .collect();
        let mut groups = vec![
            member_group(ADMINISTRATORS_GROUP, &admins, users),
            member_group(USERS_GROUP, &licensed, users),
        ];

        let mut taken: HashSet<String> = groups
            .iter()
            .map(|group| group.name.to_lowercase())
            .collect();
        let extra_count = count - groups.len();
        let mut names: Vec<String> = COMMON_GROUP_NAMES
            .iter()
            .take(1)
            .chain(AWKWARD_GROUP_NAMES.iter())
            .chain(COMMON_GROUP_NAMES.iter().skip(1))
            .map(|name| name.to_string())
            .take(extra_count)
            .collect();
        for name in &names {
            taken.insert(name.to_lowercase());
        }
        while names.len() < extra_count {
            let department = DEPARTMENTS.choose(&mut self.rng).unwrap_or(&"team");
            let site = SITES.choose(&mut self.rng).unwrap_or(&"global");
            let name = unique_name(&mut taken, format!("{department}-{site}"));
            names.push(name);
        }

        // Power law: the group at rank r gets about half the users / r^1.15.
        let mut ranks: Vec<usize> = (1..=names.len()).collect();
        ranks.shuffle(&mut self.rng);
        for (name, rank) in names.into_iter().zip(ranks) {
            let size = if name == "all-staff" {
                user_count * 85 / 100
            } else {
                let jitter = self.rng.random_range(0.7..1.3);
                (user_count as f64 * 0.5 / (rank as f64).powf(1.15) * jitter).round() as usize
            };
            let awkward = AWKWARD_GROUP_NAMES.contains(&name.as_str());
            let size = size.clamp(usize::from(awkward), user_count);
            let members = self.sample(user_count, size);
            groups.push(member_group(&name, &members, users));
        }
        groups
    }

    fn spaces(&mut self, users: &[SimUser], count: usize) -> Vec<SimSpace> {
        let personal_count = (count / 2).min(users.len().saturating_sub(1));
        let global_count = count - personal_count;
        let mut spaces = Vec::with_capacity(count);
        let mut taken_keys = HashSet::from(["ds".to_owned()]);
        for index in 0..global_count {
            let (key, name) = if index == 0 {
                ("ds".to_owned(), "Demonstration Space".to_owned())
            } else {
                let round = (index - 1) / SPACE_NAMES.len();
                let base = SPACE_NAMES[(index - 1) % SPACE_NAMES.len()];
                let name = if round == 0 {
                    base.to_owned()
                } else {
                    format!("{base} {}", round + 1)
                };
                let letters: String = base
                    .chars()
                    .filter(char::is_ascii_alphabetic)
                    .take(4)
                    .collect();
                (unique_name(&mut taken_keys, letters.to_uppercase()), name)
            };
            let archived = index > 0 && self.rng.random_bool(0.12);
            spaces.push(SimSpace {
                id: 0,
                key,
                description: format!("{name} space"),
                name,
                r#type: "global".into(),
                status: if archived { "archived" } else { "current" }.into(),
            });
        }
        if global_count >= 3 && spaces.iter().all(|space| space.status == "current") {
            spaces[global_count - 1].status = "archived".into();
        }
        for owner in self.sample(users.len() - 1, personal_count) {
            let owner = &users[owner + 1];
            spaces.push(SimSpace {
                id: 0,
                key: format!("~{}", owner.username),
                name: owner.display_name.clone(),
                r#type: "personal".into(),
                status: "current".into(),
                description: String::new(),
            });
        }
        for (offset, space) in spaces.iter_mut().enumerate() {
            space.id = FIRST_SPACE_ID + offset as u64;
        }
        spaces
    }

    fn permissions(
        &mut self,
        users: &[SimUser],
        groups: &[SimGroup],
        spaces: &[SimSpace],
        unknown_users: &[UnknownUser],
    ) -> Vec<SimPermission> {
        let all: Vec<SpacePermission> = SpacePermission::all().collect();
        let mut rows = Vec::new();
        for space in spaces {
            let mut grant = |holder: &Holder<'_>, permissions: &[SpacePermission]| {
                rows.extend(permissions.iter().map(|permission| SimPermission {
                    space_key: space.key.clone(),
                    r#type: permission.legacy_key().to_owned(),
                    user_key: holder.user_key().map(str::to_owned),
                    group_name: holder.group_name().map(str::to_owned),
                }));
            };
            let demo = space.key == "ds";
            if space.r#type == "personal" {
                let owner_name = space.key.trim_start_matches('~');
                if let Some(owner) = users.iter().find(|user| user.username == owner_name) {
                    grant(&Holder::User(&owner.user_key), &all);
                }
                // Admins frequently cannot even view personal spaces.
                if self.rng.random_bool(0.2) {
                    grant(
                        &Holder::Group(ADMINISTRATORS_GROUP),
                        &[SpacePermission::View],
                    );
                }
                if self.rng.random_bool(0.1) {
                    grant(&Holder::Anonymous, &[SpacePermission::View]);
                }
                continue;
            }
            if demo || !self.rng.random_bool(0.125) {
                grant(&Holder::Group(ADMINISTRATORS_GROUP), &all);
            }
            if demo || self.rng.random_bool(0.6) {
                let everything_but_admin: Vec<SpacePermission> = all
                    .iter()
                    .copied()
                    .filter(|&permission| permission != SpacePermission::SetSpacePermissions)
                    .collect();
                grant(&Holder::Group(USERS_GROUP), &everything_but_admin);
            }
            let extra_groups = self.rng.random_range(0..=2).min(groups.len() - 2);
            for group in self.sample(groups.len() - 2, extra_groups) {
                let permissions = self.permission_subset(&all);
                grant(&Holder::Group(&groups[group + 2].name), &permissions);
            }
            let individual_users = self.rng.random_range(0..=3).min(users.len());
            for user in self.sample(users.len(), individual_users) {
                let permissions = self.permission_subset(&all);
                grant(&Holder::User(&users[user].user_key), &permissions);
            }
            // Anonymous rows are inert without global anonymous access, but they exist.
            if demo || self.rng.random_bool(0.35) {
                grant(
                    &Holder::Anonymous,
                    &[SpacePermission::View, SpacePermission::AddComment],
                );
            }
            if (demo || self.rng.random_bool(0.3))
                && let Some(unknown) = unknown_users.choose(&mut self.rng)
            {
                grant(
                    &Holder::User(&unknown.user_key),
                    &[SpacePermission::View, SpacePermission::AddComment],
                );
            }
        }
        rows
    }

    /// VIEWSPACE plus a random selection of the others; space admin is rare.
    fn permission_subset(&mut self, all: &[SpacePermission]) -> Vec<SpacePermission> {
        all.iter()
            .copied()
            .filter(|&permission| match permission {
                SpacePermission::View => true,
                SpacePermission::SetSpacePermissions => self.rng.random_bool(0.1),
                _ => self.rng.random_bool(0.4),
            })
            .collect()
    }

    /// `amount` distinct indexes below `length`, in ascending order.
    fn sample(&mut self, length: usize, amount: usize) -> Vec<usize> {
        let mut picked = index::sample(&mut self.rng, length, amount.min(length)).into_vec();
        picked.sort_unstable();
        picked
    }
}

enum Holder<'a> {
    User(&'a str),
    Group(&'a str),
    Anonymous,
}

impl Holder<'_> {
    fn user_key(&self) -> Option<&str> {
        match self {
            Holder::User(key) => Some(key),
            _ => None,
        }
    }

    fn group_name(&self) -> Option<&str> {
        match self {
            Holder::Group(name) => Some(name),
            _ => None,
        }
    }
}

fn member_group(name: &str, members: &[usize], users: &[SimUser]) -> SimGroup {
    SimGroup {
        name: name.to_owned(),
        members: members
            .iter()
            .map(|&index| users[index].user_key.clone())
            .collect(),
    }
}

/// `base`, or `base` with the first free number appended; compared case-insensitively.
fn unique_name(taken: &mut HashSet<String>, base: String) -> String {
    if taken.insert(base.to_lowercase()) {
        return base;
    }
    let (stem, suffix) = match base.split_once('@') {
        Some((stem, domain)) => (stem.to_owned(), format!("@{domain}")),
        None => (base.clone(), String::new()),
    };
    (2..)
        .map(|number| format!("{stem}{number}{suffix}"))
        .find(|candidate| taken.insert(candidate.to_lowercase()))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests;
