use std::time::Duration;

use super::*;
use crate::store::tests::TestStore;

async fn switch(t: &TestStore, role: Role) -> Arc<KillSwitch> {
    let latest = t.store.kill_switch().await.unwrap();
    KillSwitch::new(t.store.clone(), latest, role)
}

#[tokio::test]
async fn activation_is_recorded_and_survives_a_restart() {
    let t = TestStore::sqlite().await;
    let ks = switch(&t, Role::Trader).await;
    assert!(ks.order_permit().await.is_ok());
    let flip = ks
        .activate("Emergency test", KillSwitchSource::Http, Some("req-1"))
        .await;
    let Flip::Done {
        changed: true,
        view,
    } = flip
    else {
        panic!("{flip:?}")
    };
    assert!(view.active && view.durable);
    assert_eq!(view.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        ks.order_permit().await.err().as_deref(),
        Some("Emergency test")
    );
    assert!(ks.is_active());

    // A new process reads the same state from the store.
    let restarted = switch(&t, Role::Trader).await;
    assert!(restarted.is_active());
    assert_eq!(restarted.view().await, view);

    // Activating again changes nothing here, but is recorded: another
    // process may have flipped the database meanwhile.
    let again = ks.activate("twice", KillSwitchSource::Cli, None).await;
    assert!(
        matches!(again, Flip::Done { changed: false, .. }),
        "{again:?}"
    );
    assert_eq!(t.count("kill_switch_events").await, 2);
    let flip = ks.deactivate("resolved", KillSwitchSource::Cli, None).await;
    assert!(
        matches!(flip, Flip::Done { changed: true, ref view } if !view.active),
        "{flip:?}"
    );
    assert!(ks.order_permit().await.is_ok());
    assert!(!switch(&t, Role::Trader).await.is_active());
}

#[tokio::test]
async fn activation_waits_for_an_order_in_flight_and_stops_the_next() {
    let t = TestStore::sqlite().await;
    let ks = switch(&t, Role::Trader).await;
    let permit = ks.order_permit().await.unwrap();
    let activating = tokio::spawn({
        let ks = ks.clone();
        async move { ks.activate("halt", KillSwitchSource::Http, None).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !activating.is_finished(),
        "the order in flight holds it back"
    );
    drop(permit);
    activating.await.unwrap();
    assert!(ks.order_permit().await.is_err());
}

#[tokio::test]
async fn without_the_database_the_trader_halts_anyway_and_refuses_to_resume() {
    let t = TestStore::sqlite().await;
    let ks = switch(&t, Role::Trader).await;
    t.store.close().await;
    let flip = ks.activate("db down", KillSwitchSource::Http, None).await;
    let Flip::Done {
        changed: true,
        view,
    } = flip
    else {
        panic!("{flip:?}")
    };
    assert!(view.active, "fail closed");
    assert!(!view.durable, "and says a restart would lose it");
    assert!(ks.order_permit().await.is_err());
    let refused = ks.deactivate("resume", KillSwitchSource::Http, None).await;
    assert!(
        matches!(refused, Flip::NotRecorded { ref view, .. } if view.active),
        "{refused:?}"
    );
    assert!(ks.is_active());
}

#[tokio::test]
async fn the_dashboard_role_reports_an_event_it_could_not_record() {
    let t = TestStore::sqlite().await;
    let ks = switch(&t, Role::Recorder).await;
    t.store.close().await;
    let flip = ks
        .activate("from the page", KillSwitchSource::Http, None)
        .await;
    assert!(
        matches!(flip, Flip::NotRecorded { ref view, .. } if !view.active),
        "{flip:?}"
    );
    assert!(!ks.is_active());
}

#[tokio::test]
async fn events_written_elsewhere_are_picked_up_and_older_ones_ignored() {
    let t = TestStore::sqlite().await;
    let daemon = switch(&t, Role::Trader).await;
    let dashboard = switch(&t, Role::Recorder).await;
    let mut woken = daemon.subscribe();
    dashboard
        .activate("from the dashboard", KillSwitchSource::Http, Some("req-d"))
        .await;
    daemon.sync_with(t.store.kill_switch().await.unwrap()).await;
    assert!(daemon.is_active());
    assert!(woken.has_changed().unwrap() && *woken.borrow_and_update());
    assert_eq!(daemon.view().await.request_id.as_deref(), Some("req-d"));

    // The daemon deactivates; a stale read of the older activation must not
    // undo that.
    let stale = t.store.kill_switch().await.unwrap();
    daemon
        .deactivate("checked", KillSwitchSource::Cli, None)
        .await;
    daemon.sync_with(stale).await;
    assert!(!daemon.is_active());
}
