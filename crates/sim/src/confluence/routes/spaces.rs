//! Spaces: the list with its filters, default limit 25, silent cap and the
//! optional over-paging bug, and single spaces. Callers see the spaces they
//! may view (Confluence admins all of them, unless configured otherwise).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;

use super::{Failure, link_context};
use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::errors::json_response;
use crate::confluence::options::{SpaceOverpaging, SpaceVisibility};
use crate::confluence::pagination::{Page, PageRequest};
use crate::confluence::params::Params;
use crate::confluence::state::State as SimState;

/// Documented default `limit` of `/rest/api/space`.
const DEFAULT_SPACE_LIMIT: usize = 25;

/// Which spaces a caller sees. Anonymous rows are inert without global
/// anonymous access, which the simulator never grants.
enum Viewer {
    Nobody,
    Everything,
    User(usize),
}

impl Viewer {
    fn of(app: &App, state: &SimState, caller: &Caller) -> Viewer {
        match caller.index(state) {
            None => Viewer::Nobody,
            Some(user)
                if app.quirks.space_visibility == SpaceVisibility::AdminsSeeAll
                    && state.is_admin(user) =>
            {
                Viewer::Everything
            }
            Some(user) => Viewer::User(user),
        }
    }

    fn sees(&self, state: &SimState, space: usize) -> bool {
        match self {
            Viewer::Nobody => false,
            Viewer::Everything => true,
            Viewer::User(user) => state.can_view_space(*user, space),
        }
    }
}

pub(super) async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
    uri: Uri,
) -> Response {
    let state = app.read();
    let request = match PageRequest::parse(&params, DEFAULT_SPACE_LIMIT, app.quirks.space_page_cap)
    {
        Ok(request) => request,
        Err(message) => return Failure::new(400, message).response(),
    };
    let viewer = Viewer::of(&app, &state, &caller);
    let kind = params.get("type");
    let status = params.get("status");
    let wanted_keys: Vec<&str> = params
        .all("spaceKey")
        .chain(params.all("spaceKeys").flat_map(|keys| keys.split(',')))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .collect();
    let matching: Vec<usize> = (0..state.spaces().len())
        .filter(|&index| {
            let space = &state.space(index).space;
            kind.is_none_or(|kind| space.r#type == kind)
                && match status {
                    Some(status) => space.status == status,
                    None => app.quirks.archived_spaces_in_default_list || space.status == "current",
                }
                && (wanted_keys.is_empty()
                    || wanted_keys
                        .iter()
                        .any(|key| key.eq_ignore_ascii_case(&space.key)))
                && viewer.sees(&state, index)
        })
        .collect();

    let total = matching.len();
    let expand_description = params.expands("description.plain") || params.expands("description");
    let render = |indexes: &[usize]| {
        indexes
            .iter()
            .map(|&index| {
                app.render
                    .space(&state.space(index).space, expand_description, false)
            })
            .collect()
    };
    let links = link_context(&app, &uri, &params);
    let page = if request.start >= total && total > 0 {
        // CONFSERVER-95272/95312: past the end the old server kept going.
        match app.quirks.space_overpaging {
            SpaceOverpaging::Off => Page::of_listing(Vec::new(), &request, total, &links),
            SpaceOverpaging::RepeatLastPage => {
                let last = &matching[total.saturating_sub(request.limit)..];
                Page::new(render(last), &request, true, &links)
            }
            SpaceOverpaging::EmptyPageWithNext => Page::new(Vec::new(), &request, true, &links),
        }
    } else {
        Page::of_listing(
            render(&matching[request.range(total)]),
            &request,
            total,
            &links,
        )
    };
    json_response(200, &page)
}

pub(super) async fn single(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    params: Params,
) -> Response {
    let state = app.read();
    let viewer = Viewer::of(&app, &state, &caller);
    match state
        .space_index(&key)
        .filter(|&space| viewer.sees(&state, space))
    {
        Some(space) => {
            let expand = params.expands("description.plain") || params.expands("description");
            json_response(
                200,
                &app.render.space(&state.space(space).space, expand, true),
            )
        }
        None => Failure::new(404, format!("No space with key : {key}")).response(),
    }
}
