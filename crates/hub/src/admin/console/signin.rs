//! The sign-in page, and the page that says why the console is closed.

use super::layout::{Section, page};

pub fn render(has_token: bool, error: Option<&str>) -> String {
    page("Sign in", Section::SignIn, None, |html| {
        html.raw("<h1>Sign in</h1>");
        if !has_token {
            html.raw("<p class=\"notice readonly\">This hub has no hub.admin_token, so there is nothing to sign in with: the console is read-only from this host. Set hub.admin_token and reload to enable actions.</p><p><a href=\"/\">Go to the fleet</a></p>");
            return;
        }
        if let Some(error) = error {
            html.raw("<p class=\"notice failed\" role=\"alert\">")
                .text(error)
                .raw("</p>");
        }
        html.raw("<p>The console needs this hub's admin token (<code>hub.admin_token</code>). Your browser keeps a session cookie for 12 hours; the token itself is not stored.</p>")
            .raw("<form method=\"post\" action=\"/signin\" class=\"signin\">")
            .raw("<label for=\"token\">Admin token</label>")
            .raw("<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required>")
            .raw("<button type=\"submit\">Sign in</button></form>");
    })
}

/// The console is closed to everyone here; `why` says what to change.
pub fn closed(why: &str) -> String {
    page("Closed", Section::SignIn, None, |html| {
        html.raw("<h1>Console closed</h1><p class=\"notice failed\">")
            .text(why)
            .raw("</p>");
    })
}

/// An action that did not happen, and why.
pub fn refused(title: &str, why: &str, back: &str) -> String {
    page(title, Section::SignIn, None, |html| {
        html.element("<h1>", title, "</h1>")
            .raw("<p class=\"notice failed\" role=\"alert\">")
            .text(why)
            .raw("</p><p><a href=\"")
            .text(back)
            .raw("\">Back</a></p>");
    })
}
