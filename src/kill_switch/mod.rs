//! The kill switch: one shared state that stops every new order at once.
//!
//! Orders take a permit ([`KillSwitch::order_permit`]) before their intent
//! is written and hold it until the exchange has answered; activation takes
//! the write side, so it waits for an order already on its way and no order
//! can start after it. That is what makes "no order reaches the exchange
//! after the activate response" true.
//!
//! The state lives in the store as events (the latest one is the state), so
//! it survives a restart. In the daemon an activation halts trading even
//! when the event cannot be written (fail closed) and keeps trying to write
//! it; a deactivation that cannot be written is refused. Events written by
//! another process (the dashboard, the CLI) are picked up by [`watch`].

pub mod auth;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tokio::sync::{RwLock, RwLockReadGuard};
use tracing::{info, warn};
use uuid::Uuid;

use crate::store::{KillSwitchAction, KillSwitchEvent, KillSwitchSource, Store, now};
use crate::telemetry::error_chain;

pub use watch::watch_store;

/// What an order holds from its intent until the exchange has answered.
pub type OrderPermit<'a> = RwLockReadGuard<'a, State>;

#[derive(Debug, Clone, Default)]
pub struct State {
    /// The latest event applied; `None` when the switch was never used.
    latest: Option<KillSwitchEvent>,
    /// Whether `latest` is in the store.
    durable: bool,
}

impl State {
    pub fn is_active(&self) -> bool {
        self.latest.as_ref().is_some_and(KillSwitchEvent::is_active)
    }
}

/// The state as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct View {
    pub active: bool,
    pub reason: Option<String>,
    pub source: Option<KillSwitchSource>,
    pub request_id: Option<String>,
    pub since: Option<String>,
    /// False while an activation is in force here but not yet in the store:
    /// a restart now would trade again.
    pub durable: bool,
}

impl View {
    fn of(state: &State) -> Self {
        let event = state.latest.as_ref();
        View {
            active: state.is_active(),
            reason: event.map(|e| e.reason.clone()),
            source: event.map(|e| e.source),
            request_id: event.and_then(|e| e.request_id.clone()),
            since: event.map(|e| e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            durable: state.durable || state.latest.is_none(),
        }
    }
}

/// What a flip did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flip {
    /// The state changed (or was already so; `changed` says which).
    Done { changed: bool, view: View },
    /// A deactivation that could not be recorded: the switch stays active.
    NotRecorded { view: View, error: String },
}

/// Who may change the state, and what "active" means for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The trading daemon: an activation halts it at once, recorded or not.
    Trader,
    /// A process that only writes events for the daemon to pick up (the
    /// dashboard): an event it cannot record did not happen.
    Recorder,
}

pub struct KillSwitch {
    state: RwLock<State>,
    /// Read without a lock by metrics and the loop's wake-up.
    active: AtomicBool,
    changed: tokio::sync::watch::Sender<bool>,
    store: Store,
    role: Role,
}

impl KillSwitch {
    /// Starts from the store's latest event.
    pub fn new(store: Store, latest: Option<KillSwitchEvent>, role: Role) -> Arc<Self> {
        let active = latest.as_ref().is_some_and(KillSwitchEvent::is_active);
        let (changed, _) = tokio::sync::watch::channel(active);
        Arc::new(KillSwitch {
            state: RwLock::new(State {
                latest,
                durable: true,
            }),
            active: AtomicBool::new(active),
            changed,
            store,
            role,
        })
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Wakes when the switch flips; the value is whether it is now active.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.changed.subscribe()
    }

    /// A permit to send one order, or the reason there is none.
    pub async fn order_permit(&self) -> Result<OrderPermit<'_>, String> {
        let state = self.state.read().await;
        match &state.latest {
            Some(event) if event.is_active() => Err(event.reason.clone()),
            _ => Ok(state),
        }
    }

    pub async fn view(&self) -> View {
        View::of(&*self.state.read().await)
    }

    pub async fn activate(
        &self,
        reason: &str,
        source: KillSwitchSource,
        request_id: Option<&str>,
    ) -> Flip {
        self.flip(KillSwitchAction::Activate, reason, source, request_id)
            .await
    }

    pub async fn deactivate(
        &self,
        reason: &str,
        source: KillSwitchSource,
        request_id: Option<&str>,
    ) -> Flip {
        self.flip(KillSwitchAction::Deactivate, reason, source, request_id)
            .await
    }

    async fn flip(
        &self,
        action: KillSwitchAction,
        reason: &str,
        source: KillSwitchSource,
        request_id: Option<&str>,
    ) -> Flip {
        let activate = action == KillSwitchAction::Activate;
        // Waits for an order in flight; no order starts while it is held.
        let mut state = self.state.write().await;
        // Recorded even when this process already sees that state: its view
        // may be a poll behind the database (another process flipped it), and
        // the operator's request must be what the database says last.
        let changed = state.is_active() != activate;
        let event = KillSwitchEvent {
            event_id: Uuid::now_v7().to_string(),
            action,
            reason: reason.to_owned(),
            source,
            request_id: request_id.map(str::to_owned),
            at: now(),
        };
        // Stop first: the halt must not wait on the database.
        if activate && self.role == Role::Trader {
            self.set(&mut state, event.clone(), false);
        }
        match self.store.record_kill_switch(&event).await {
            Ok(()) => {
                self.set(&mut state, event, true);
            }
            Err(err) if activate && self.role == Role::Trader => {
                warn!(
                    error = %error_chain(&err),
                    "Kill-switch activation not recorded: trading is halted here, but a restart would resume it; retrying the write"
                );
            }
            Err(err) => {
                return Flip::NotRecorded {
                    view: View::of(&state),
                    error: error_chain(&err),
                };
            }
        }
        let view = View::of(&state);
        drop(state);
        if changed {
            log_flip(&view, source, request_id);
        }
        Flip::Done { changed, view }
    }

    fn set(&self, state: &mut State, event: KillSwitchEvent, durable: bool) {
        let active = event.is_active();
        state.latest = Some(event);
        state.durable = durable;
        self.active.store(active, Ordering::Release);
        // Wake the loop once per flip, not for a re-recorded same state.
        self.changed.send_if_modified(|current| {
            let flipped = *current != active;
            *current = active;
            flipped
        });
    }

    /// Applies an event found in the store if it is newer than what this
    /// process knows, and retries writing an activation not yet recorded.
    async fn sync_with(&self, stored: Option<KillSwitchEvent>) {
        let mut state = self.state.write().await;
        if !state.durable
            && let Some(local) = state.latest.clone()
        {
            match self.store.record_kill_switch(&local).await {
                Ok(()) => {
                    state.durable = true;
                    info!(reason = %local.reason, "Kill-switch activation recorded after all");
                }
                Err(_) => return,
            }
        }
        let Some(stored) = stored else { return };
        // Ids are UUIDv7: a later event has a greater id.
        let newer = state
            .latest
            .as_ref()
            .is_none_or(|known| stored.event_id > known.event_id);
        if newer {
            let source = stored.source;
            let request_id = stored.request_id.clone();
            self.set(&mut state, stored, true);
            let view = View::of(&state);
            drop(state);
            log_flip(&view, source, request_id.as_deref());
        }
    }
}

fn log_flip(view: &View, source: KillSwitchSource, request_id: Option<&str>) {
    let reason = view.reason.as_deref().unwrap_or_default();
    if view.active {
        warn!(
            reason,
            source = source.as_str(),
            request_id = request_id.unwrap_or_default(),
            durable = view.durable,
            "Kill switch activated; no new orders"
        );
    } else {
        warn!(
            reason,
            source = source.as_str(),
            request_id = request_id.unwrap_or_default(),
            "Kill switch deactivated; trading resumes"
        );
    }
}

#[cfg(test)]
mod tests;
