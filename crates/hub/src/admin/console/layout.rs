//! The frame every console page shares: head, navigation, who is looking
//! and what they may do, and a notice after an action.

use super::html::Html;
use crate::admin::access::Viewer;

/// Which top-level page is showing, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Fleet,
    Tenant,
    Hub,
    SignIn,
}

pub const READ_ONLY_WHY: &str = "Read-only: this hub has no hub.admin_token, so nobody can act from here. Set hub.admin_token (a file or environment variable) and reload to enable \"sync now\" and \"reload config\".";

pub fn page(
    title: &str,
    section: Section,
    viewer: Option<&Viewer>,
    body: impl FnOnce(&mut Html),
) -> String {
    let mut html = Html::with_capacity(16 * 1024);
    html.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<title>")
        .text(title)
        .raw(" · confluence-hub</title>")
        .raw("<link rel=\"stylesheet\" href=\"/console.css\">")
        .raw("<script src=\"/console.js\" defer></script></head><body>")
        .raw("<header class=\"top\"><a class=\"brand\" href=\"/\">confluence-hub</a>")
        .raw("<nav aria-label=\"Console\"><ul>");
    for (target, href, label) in [
        (Section::Fleet, "/", "Fleet"),
        (Section::Hub, "/hub", "Hub"),
    ] {
        html.raw("<li><a href=\"").raw(href).raw("\"");
        if section == target {
            html.raw(" aria-current=\"page\"");
        }
        html.raw(">").raw(label).raw("</a></li>");
    }
    html.raw("</ul></nav><div class=\"who\">");
    match viewer {
        Some(Viewer::SignedIn { csrf, .. }) => {
            html.raw("<form method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf\" value=\"")
                .text(csrf)
                .raw("\"><span>Signed in</span> <button type=\"submit\">Sign out</button></form>");
        }
        Some(Viewer::Bearer) => {
            html.raw("<span>Admin token</span>");
        }
        Some(Viewer::ReadOnly) => {
            html.raw("<span class=\"readonly\" title=\"")
                .text(READ_ONLY_WHY)
                .raw("\">Read-only</span>");
        }
        None => {}
    }
    html.raw("</div></header><main id=\"main\">");
    if viewer == Some(&Viewer::ReadOnly) && section != Section::SignIn {
        html.raw("<p class=\"notice readonly\" role=\"note\">")
            .text(READ_ONLY_WHY)
            .raw("</p>");
    }
    body(&mut html);
    html.raw("</main></body></html>\n");
    html.into_string()
}

/// A hidden CSRF field for a signed-in viewer's form (none for the others).
pub fn csrf_field(html: &mut Html, viewer: &Viewer) {
    if let Viewer::SignedIn { csrf, .. } = viewer {
        html.raw("<input type=\"hidden\" name=\"csrf\" value=\"")
            .text(csrf)
            .raw("\">");
    }
}

/// The result of an action, shown once after the redirect that followed it.
pub fn notice(html: &mut Html, done: Option<&str>) {
    let text = match done {
        Some("sync-started") => {
            "Sync started. It shows in the history below once it finishes; reload to see it."
        }
        Some("reloaded") => "Config reloaded. The result is under Last reload.",
        _ => return,
    };
    html.raw("<p class=\"notice done\" role=\"status\">")
        .raw(text)
        .raw("</p>");
}
