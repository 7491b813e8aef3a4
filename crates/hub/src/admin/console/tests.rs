use std::time::{Duration, SystemTime};

use super::fleet::{self, FleetQuery};
use super::html::Html;
use super::tenant::{self, TenantPage};
use crate::actors::status::{Health, StatusBoard, TenantState, TenantStatus};
use crate::admin::access::Viewer;

fn board(tenants: &[(&str, TenantState, Option<&str>)]) -> StatusBoard {
    let board = StatusBoard::new(1, 3);
    for (id, state, error) in tenants {
        let mut status = TenantStatus::new(id, 1, "scheduler");
        status.state = *state;
        status.health = match state {
            TenantState::Failing => Health::Failing,
            _ => Health::Healthy,
        };
        status.last_error = error.map(str::to_owned);
        board.insert(status);
    }
    board
}

#[test]
fn every_interpolated_value_is_escaped() {
    let mut html = Html::default();
    html.raw("<p title=\"")
        .text("\"><script>alert('x')</script>&")
        .raw("\">");
    assert_eq!(
        html.into_string(),
        "<p title=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\">"
    );

    let hostile = "<img src=x onerror=alert(1)>";
    let board = board(&[("acme", TenantState::Failing, Some(hostile))]);
    let page = board.read_with(|board| {
        fleet::render(
            board,
            &FleetQuery::default(),
            &Viewer::ReadOnly,
            SystemTime::now(),
        )
    });
    assert!(!page.contains(hostile), "{page}");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn the_fleet_lists_failing_tenants_first_and_filters_by_state_and_text() {
    let board = board(&[
        ("alpha", TenantState::Idle, None),
        (
            "bravo",
            TenantState::Failing,
            Some("bravo: bad credentials"),
        ),
        ("charlie", TenantState::Syncing, None),
        (
            "delta",
            TenantState::Failing,
            Some("delta: 503 from the proxy"),
        ),
    ]);
    let order = |query: FleetQuery| {
        board.read_with(|board| {
            fleet::select(board, &query)
                .iter()
                .map(|tenant| tenant.id.clone())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        order(FleetQuery::default()),
        ["bravo", "delta", "charlie", "alpha"]
    );
    let failing = FleetQuery {
        state: "failing".into(),
        ..FleetQuery::default()
    };
    assert_eq!(order(failing), ["bravo", "delta"]);
    let text = FleetQuery {
        q: "  CREDENTIALS ".into(),
        ..FleetQuery::default()
    };
    assert_eq!(order(text), ["bravo"]);
}

#[test]
fn a_thousand_tenants_render_with_one_row_each() {
    let states = TenantState::ALL;
    let ids: Vec<String> = (0..1_000).map(|n| format!("tenant-{n:04}")).collect();
    let tenants: Vec<(&str, TenantState, Option<&str>)> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.as_str(), states[n % states.len()], None))
        .collect();
    let board = board(&tenants);
    let page = board.read_with(|board| {
        fleet::render(
            board,
            &FleetQuery::default(),
            &Viewer::Bearer,
            SystemTime::now(),
        )
    });
    assert_eq!(page.matches("<tr data-tenant=").count(), 1_000);
    assert!(page.contains("1000 of 1000 tenants"));
}

#[test]
fn sync_now_is_explained_not_offered_for_conductorone_tenants() {
    let board = StatusBoard::new(0, 1);
    board.insert(TenantStatus::new("service", 1, "conductorone"));
    board.insert(TenantStatus::new("scheduled", 1, "scheduler"));
    let viewer = Viewer::SignedIn {
        session: "s".into(),
        csrf: "csrf-value".into(),
    };
    let now = SystemTime::now() + Duration::from_secs(1);
    let render = |id: &str| {
        let page = board.read_with(|board| TenantPage::of(board, id)).unwrap();
        tenant::render(&page, &viewer, None, now)
    };
    let service = render("service");
    assert!(!service.contains("id=\"sync-now\""), "{service}");
    assert!(service.contains("ConductorOne schedules this tenant"));
    let scheduled = render("scheduled");
    assert!(scheduled.contains("action=\"/tenants/scheduled/sync\""));
    assert!(scheduled.contains("name=\"csrf\" value=\"csrf-value\""));
    let read_only = board
        .read_with(|board| TenantPage::of(board, "scheduled"))
        .unwrap();
    let read_only = tenant::render(&read_only, &Viewer::ReadOnly, None, now);
    assert!(!read_only.contains("id=\"sync-now\""));
    assert!(read_only.contains("hub.admin_token"));
}
