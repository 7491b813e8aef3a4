//! Request paths: a route template for logs and metrics (`/rest/api/group/{name}/member`,
//! never a path with names in it) and the concrete, correctly encoded path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything except RFC 3986 unreserved characters is escaped in a path
/// segment: a space becomes `%20` (a `+` in a path is a literal plus), `+`,
/// `&`, `?`, `#`, `%` are escaped and non-ASCII travels as UTF-8 bytes.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A request target: the template it came from and the path to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub template: &'static str,
    pub path: String,
}

impl Route {
    /// A route without placeholders.
    pub fn fixed(template: &'static str) -> Self {
        Self {
            template,
            path: template.to_owned(),
        }
    }

    /// Fills the `{...}` placeholders of `template`, in order, with the
    /// percent-encoded `segments`. The caller passes exactly one segment per
    /// placeholder; a surplus or missing segment is a programming error that
    /// the unit tests of each route catch.
    pub fn new(template: &'static str, segments: &[&str]) -> Self {
        let mut path = String::with_capacity(template.len() + 16);
        let mut segments = segments.iter();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            path.push_str(&rest[..open]);
            let close = rest[open..]
                .find('}')
                .map_or(rest.len(), |offset| open + offset + 1);
            if let Some(segment) = segments.next() {
                path.extend(utf8_percent_encode(segment, SEGMENT));
            }
            rest = &rest[close..];
        }
        path.push_str(rest);
        debug_assert!(
            segments.next().is_none(),
            "more segments than placeholders in {template}"
        );
        Self { template, path }
    }
}

/// Whether a name can travel in a URL path segment. Tomcat (under every
/// Confluence) rejects an encoded `/` (`%2F`) or `\` (`%5C`) in a path, and
/// proxies often decode them, so such names need a query-parameter or
/// JSON-RPC alternative. `.` and `..` would be normalised away.
pub fn is_path_addressable(name: &str) -> bool {
    !name.contains(['/', '\\']) && name != "." && name != ".." && !name.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded_for_paths() {
        let route = Route::new("/rest/api/group/{name}/member", &["a b+c&d"]);
        assert_eq!(route.path, "/rest/api/group/a%20b%2Bc%26d/member");
        assert_eq!(route.template, "/rest/api/group/{name}/member");
    }

    #[test]
    fn unicode_travels_as_utf8_bytes() {
        let route = Route::new("/rest/api/group/{name}", &["équipe-ü"]);
        assert_eq!(route.path, "/rest/api/group/%C3%A9quipe-%C3%BC");
    }

    #[test]
    fn reserved_characters_are_escaped_but_unreserved_stay() {
        let route = Route::new("/rest/api/space/{key}/permissions", &["~jdoe.x_y-z"]);
        assert_eq!(route.path, "/rest/api/space/~jdoe.x_y-z/permissions");
        let route = Route::new("/x/{a}/{b}", &["?#%", "a/b"]);
        assert_eq!(route.path, "/x/%3F%23%25/a%2Fb");
    }

    #[test]
    fn several_placeholders_fill_in_order() {
        let route = Route::new(
            "/rest/api/space/{key}/permissions/group/{name}/grant",
            &["TEST", "confluence users"],
        );
        assert_eq!(
            route.path,
            "/rest/api/space/TEST/permissions/group/confluence%20users/grant"
        );
    }

    #[test]
    fn slashes_and_dot_segments_are_not_addressable() {
        assert!(is_path_addressable("confluence-users"));
        assert!(is_path_addressable("a b & c"));
        assert!(!is_path_addressable("team/eng"));
        assert!(!is_path_addressable("team\\eng"));
        assert!(!is_path_addressable(".."));
        assert!(!is_path_addressable(""));
    }
}
