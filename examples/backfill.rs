//! Prints Zoom events, and after every reconnect lists over the REST API
//! what may have changed while the stream was down.
//!
//! ```text
//! ZOOM_ACCOUNT_ID=.. ZOOM_CLIENT_ID=.. ZOOM_CLIENT_SECRET=.. ZOOM_SUBSCRIPTION_ID=.. \
//!     cargo run --example backfill
//! ```
//!
//! Zoom does not re-send events that happen while no connection is open.
//! Each [`StateChange::Reconnected`] carries the gap (`down_since` to `at`);
//! this example then asks the REST API, with the client's own token (no
//! second OAuth stream), for:
//! - the meetings live now (`GET /users/{user}/meetings?type=live`): any of
//!   them may have started, or changed, during the gap;
//! - the meetings that ended during the gap
//!   (`GET /report/users/{user}/meetings`, which needs a `report:read`
//!   scope; report data can lag by some minutes).
//!
//! Environment: as `examples/listen.rs` (`ZOOM_ACCOUNT_ID`, `ZOOM_CLIENT_ID`,
//! `ZOOM_CLIENT_SECRET`, `ZOOM_SUBSCRIPTION_ID`, `RUST_LOG`), plus
//! `ZOOM_USER` (user id or email, default `me`).
//!
//! stdout: one JSON line per event, and one per backfilled meeting
//! (`{"backfill":"live"|"ended","meeting":{...}}`); the rest goes to stderr.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use zoom_ws::rest::Api;
use zoom_ws::{Client, Credentials, StateChange};

#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> ExitCode {
    stderr_log::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-ws backfill: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> zoom_ws::Result<()> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let client = Client::builder()
        .credentials(Credentials::from_env()?)
        .subscription_id(env("ZOOM_SUBSCRIPTION_ID").unwrap_or_default())
        .connect()?;
    // The client's token source: REST calls share its refreshed tokens.
    let api = Api::new(client.token_source());
    let user = env("ZOOM_USER").unwrap_or_else(|| "me".into());

    let states = client.states().clone();
    let backfiller = std::thread::spawn(move || {
        // Ends when the client closes.
        for change in states {
            if let StateChange::Reconnected {
                down_since,
                at,
                gap,
            } = change
            {
                eprintln!(
                    "reconnected after a {} ms gap: backfilling",
                    gap.as_millis()
                );
                if let Err(e) = backfill(&api, &user, down_since, at) {
                    eprintln!("backfill failed: {e}");
                }
            }
        }
    });

    for event in client.events() {
        println!("{}", event.json());
    }
    let result = client.close();
    let _ = backfiller.join();
    result
}

/// Lists the meetings that may hold events lost between `from` and `to`.
fn backfill(api: &Api, user: &str, from: SystemTime, to: SystemTime) -> zoom_ws::Result<()> {
    let (from, to) = (zoom_time(from), zoom_time(to));

    let live = api
        .get(format!("/users/{user}/meetings"))
        .query("type", "live")
        .pages("meetings")
        .page_size(300);
    for meeting in live {
        println!("{}", json!({"backfill": "live", "meeting": meeting?}));
    }

    // Reports take whole days (UTC): keep the meetings that ended in the gap.
    let ended = api
        .get(format!("/report/users/{user}/meetings"))
        .query("type", "past")
        .query("from", &from[..10])
        .query("to", &to[..10])
        .pages("meetings")
        .page_size(300);
    for meeting in ended {
        let meeting = meeting?;
        // Zoom's times are UTC in this very format: strings compare as times.
        if meeting["end_time"]
            .as_str()
            .is_some_and(|end| end >= from.as_str())
        {
            println!("{}", json!({"backfill": "ended", "meeting": meeting}));
        }
    }
    Ok(())
}

/// `t` as Zoom writes times, in UTC: `2024-07-13T21:44:51Z`.
fn zoom_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, s) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}
