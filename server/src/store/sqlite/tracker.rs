//! What the SQLite backend keeps in memory beside its event log: the numbering of events, and for
//! each webhook the deliveries that have no row.
//!
//! One process owns an SQLite database (see `lock_owner`), so it can save most of a delivery's
//! writes: a delivery handed to the caller at append is written only when its first attempt is
//! recorded (one row, often never touched again). Until then its webhook's *cursor*, saved with
//! attempt records, stays below its event, and a start after a crash reads the deliveries past
//! the cursor that have no row from the log. A webhook whose caller had no room at append
//! *catches up* the same way: its next deliveries wait in the log, and `lease` reads them from
//! there as room frees up. Retries, held and replayed deliveries are rows.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::store::Room;
use crate::webhook::trigger_matches;

/// A webhook's part of the log.
#[derive(Debug)]
struct Tracked {
    id: String,
    app_id: String,
    /// Its triggers, to read its deliveries from the log.
    triggers: Vec<String>,
    /// Events of deliveries handed out whose first attempt is not recorded yet.
    unrecorded: BTreeSet<i64>,
    /// Catching up: the deliveries of the matching events after `read_to` that have no row wait
    /// in the log. Otherwise each new delivery is handed out at append (or catching up starts).
    catching_up: bool,
    read_to: i64,
    /// The cursor last saved.
    saved: i64,
}

impl Tracked {
    /// Every matching event up to the cursor has a row: below the first unrecorded delivery, and
    /// not past what is still to read (`last`: the last event numbered).
    fn cursor(&self, last: i64) -> i64 {
        let upto = if self.catching_up { self.read_to } else { last };
        self.unrecorded
            .first()
            .map_or(upto, |first| (first - 1).min(upto))
    }

    fn matches(&self, kind: &str) -> bool {
        self.triggers.iter().any(|t| trigger_matches(t, kind))
    }
}

#[derive(Debug, Default)]
struct State {
    /// The last event number given out.
    last: i64,
    /// The first numbers of appends whose events are numbered but not yet stored (or refused):
    /// the log below the first of them is complete.
    storing: BTreeSet<i64>,
    webhooks: HashMap<i64, Tracked>,
}

impl State {
    /// Every event up to this number is stored or will never be.
    fn complete_to(&self) -> i64 {
        self.storing.first().map_or(self.last, |first| first - 1)
    }
}

/// The numbers an append gave, and the deliveries it hands out.
#[derive(Debug)]
pub(super) struct Numbered {
    pub first: i64,
    /// Per event, the webhooks whose delivery goes to the caller.
    pub handed: Vec<Vec<i64>>,
}

/// What a webhook catching up took from a read of the log.
#[derive(Debug)]
pub(super) struct Read {
    /// The events whose deliveries it hands out, in order.
    pub events: Vec<i64>,
    /// It read its window to the end.
    pub read_all: bool,
}

/// Where a webhook catching up reads the log next.
#[derive(Debug)]
pub(super) struct Window {
    pub app_id: String,
    /// Read events numbered in `(after, upto]`.
    pub after: i64,
    pub upto: i64,
}

#[derive(Debug, Default)]
pub(super) struct Tracker {
    state: Mutex<State>,
}

/// A webhook's triggers from its saved spec (its `events`).
pub(super) fn triggers(spec: &serde_json::Value) -> Vec<String> {
    spec.get("events")
        .and_then(|e| e.as_array())
        .map(|kinds| {
            kinds
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Tracker {
    pub fn new(last: i64) -> Tracker {
        Tracker {
            state: Mutex::new(State {
                last,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last event number given out.
    pub fn last(&self) -> i64 {
        self.state().last
    }

    /// Tracks a webhook whose saved cursor is `cursor`. With `catch_up`, when the cursor is behind
    /// the log, it reads the log from there (deliveries that were in memory when the last process
    /// stopped); without, it takes the events appended from now on.
    pub fn track(
        &self,
        seq: i64,
        id: &str,
        app_id: &str,
        triggers: Vec<String>,
        cursor: i64,
        catch_up: bool,
    ) {
        let mut state = self.state();
        let behind = catch_up && cursor < state.last;
        state.webhooks.insert(
            seq,
            Tracked {
                id: id.to_string(),
                app_id: app_id.to_string(),
                triggers,
                unrecorded: BTreeSet::new(),
                catching_up: behind,
                read_to: cursor,
                saved: cursor,
            },
        );
    }

    pub fn set_triggers(&self, app_id: &str, id: &str, triggers: Vec<String>) {
        let mut state = self.state();
        if let Some(t) = state
            .webhooks
            .values_mut()
            .find(|t| t.id == id && t.app_id == app_id)
        {
            t.triggers = triggers;
        }
    }

    /// Forgets deleted webhooks.
    pub fn forget(&self, seqs: impl IntoIterator<Item = i64>) {
        let mut state = self.state();
        for seq in seqs {
            state.webhooks.remove(&seq);
        }
    }

    /// Numbers `count` events and decides, at once, where each enabled taker's delivery goes:
    /// to the caller while `room` lasts and the webhook is not catching up, else the webhook
    /// catches up from the log. Call [`Tracker::stored`] with the outcome of storing them.
    pub fn number<'a>(
        &self,
        app_id: &str,
        takers: impl Iterator<Item = &'a [(i64, bool)]>,
        count: usize,
        room: &Room,
    ) -> Numbered {
        let mut state = self.state();
        let first = state.last + 1;
        state.last += count as i64;
        state.storing.insert(first);
        let mut per_webhook: HashMap<i64, usize> = room.per_webhook.iter().copied().collect();
        let mut total = room.total;
        let mut handed = Vec::with_capacity(count);
        for (k, event_takers) in takers.enumerate() {
            let seq = first + k as i64;
            let mut event_handed = Vec::new();
            for &(webhook_seq, enabled) in event_takers {
                // Only a webhook of the event's app.
                let Some(t) = state
                    .webhooks
                    .get_mut(&webhook_seq)
                    .filter(|t| enabled && t.app_id == app_id)
                else {
                    continue;
                };
                let room = per_webhook.entry(webhook_seq).or_default();
                if !t.catching_up && *room > 0 && total > 0 {
                    *room -= 1;
                    total -= 1;
                    t.unrecorded.insert(seq);
                    event_handed.push(webhook_seq);
                } else if !t.catching_up {
                    t.catching_up = true;
                    t.read_to = seq - 1;
                }
            }
            handed.push(event_handed);
        }
        Numbered { first, handed }
    }

    /// The events numbered by `numbered` are stored (`fresh`: which were new), or none is
    /// (`None`): the deliveries of the others are not handed out after all.
    pub fn stored(&self, numbered: &Numbered, fresh: Option<&[bool]>) {
        let mut state = self.state();
        state.storing.remove(&numbered.first);
        for (k, event_handed) in numbered.handed.iter().enumerate() {
            if fresh.is_some_and(|f| f[k]) {
                continue;
            }
            let seq = numbered.first + k as i64;
            for webhook_seq in event_handed {
                if let Some(t) = state.webhooks.get_mut(webhook_seq) {
                    t.unrecorded.remove(&seq);
                }
            }
        }
    }

    /// Each webhook's cursor where it is ahead of the saved one: read before attempts are
    /// stored, it only passes deliveries recorded before them.
    pub fn cursors(&self) -> Vec<(i64, i64)> {
        let state = self.state();
        state
            .webhooks
            .iter()
            .filter_map(|(seq, t)| {
                let cursor = t.cursor(state.last);
                (cursor > t.saved).then_some((*seq, cursor))
            })
            .collect()
    }

    pub fn saved(&self, cursors: &[(i64, i64)]) {
        let mut state = self.state();
        for (seq, cursor) in cursors {
            if let Some(t) = state.webhooks.get_mut(seq) {
                t.saved = t.saved.max(*cursor);
            }
        }
    }

    /// These deliveries (webhook number, event number) have rows, or never will (their webhook
    /// or event is gone): their webhooks' cursors may pass them.
    pub fn recorded(&self, keys: impl Iterator<Item = (i64, i64)>) {
        let mut state = self.state();
        for (webhook_seq, event_seq) in keys {
            if let Some(t) = state.webhooks.get_mut(&webhook_seq) {
                t.unrecorded.remove(&event_seq);
            }
        }
    }

    /// Where webhook `seq` reads the log next, when it is catching up and there is something to
    /// read.
    pub fn window(&self, seq: i64) -> Option<Window> {
        let mut state = self.state();
        // Every event up to here is stored or will never be: reading to it leaves none behind.
        let (upto, last) = (state.complete_to(), state.last);
        let t = state.webhooks.get_mut(&seq).filter(|t| t.catching_up)?;
        if upto > t.read_to {
            return Some(Window {
                app_id: t.app_id.clone(),
                after: t.read_to,
                upto,
            });
        }
        if t.read_to >= last {
            // Read to the end (the last read filled what was asked, and nothing came since).
            t.catching_up = false;
        }
        None
    }

    /// Webhook `seq` read `events` (number, kind) of `window` from the log, `full` when it read
    /// as many as it asked for: hands out the deliveries of the matching ones (by event number),
    /// at most `take`, and stops catching up once it has read all that is stored.
    pub fn read(
        &self,
        seq: i64,
        window: &Window,
        events: &[(i64, &str)],
        full: bool,
        take: usize,
    ) -> Read {
        let mut state = self.state();
        let last = state.last;
        let Some(t) = state.webhooks.get_mut(&seq) else {
            return Read {
                events: Vec::new(),
                read_all: true,
            };
        };
        let mut handed = Vec::new();
        let mut considered = 0;
        for (event_seq, kind) in events {
            if handed.len() == take {
                break;
            }
            considered += 1;
            if t.matches(kind) {
                handed.push(*event_seq);
            }
        }
        let read_all = considered == events.len() && !full;
        let read_to = match considered.checked_sub(1) {
            _ if read_all => window.upto,
            Some(k) => events[k].0,
            None => t.read_to,
        };
        t.unrecorded.extend(&handed);
        t.read_to = t.read_to.max(read_to);
        // Nothing numbered since: appends hand the next deliveries straight over again.
        if read_all && t.read_to >= last {
            t.catching_up = false;
        }
        Read {
            events: handed,
            read_all,
        }
    }

    /// Of webhook `id` of `app_id`: its deliveries handed out without a row, and, while it
    /// catches up, where its deliveries waiting in the log start and its triggers (all pending).
    pub fn without_rows(&self, app_id: &str, id: &str) -> (usize, Option<(i64, Vec<String>)>) {
        let state = self.state();
        state
            .webhooks
            .values()
            .find(|t| t.id == id && t.app_id == app_id)
            .map_or((0, None), |t| {
                let waiting = t.catching_up.then(|| (t.read_to, t.triggers.clone()));
                (t.unrecorded.len(), waiting)
            })
    }
}
