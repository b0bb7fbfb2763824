//! Upgrading a data directory of the previous layout: every record is
//! still there once the store has opened it (`migrate.rs`).

use super::layout_tests::{routed, status_event};
use super::*;
use crate::event::State;

/// How the previous release wrote a batch (its `SledStore::commit`):
/// every record JSON, under its own key.
fn old_commit(tree: &sled::Tree, batch: &Batch) {
    for j in &batch.jobs {
        tree.insert(id_key(JOB, j.id), encode(j).unwrap()).unwrap();
    }
    for ((provider, message), s) in &batch.states {
        let key = records::str_key(STATE, &[provider, message]);
        tree.insert(key, encode(s).unwrap()).unwrap();
    }
    for e in &batch.events {
        let key = records::str_key(EVENT, &[&e.event.id]);
        tree.insert(key, encode(e).unwrap()).unwrap();
    }
    for c in &batch.captures {
        tree.insert(id_key(CAPTURE, c.id), encode(c).unwrap())
            .unwrap();
    }
}

/// One forwarded callback of the previous release: capture, event, state
/// and its job to `crm`.
fn forwarded(id: u64, message: &str, job_id: u64) -> (Batch, Job) {
    let event = status_event(id, message, 1_000);
    let mut c = capture(id);
    c.events = vec![event.id.clone()];
    let mut job = job(job_id);
    job.event_id = event.id.clone();
    job.lane = event.lane();
    job.payload = serde_json::to_string(&event).unwrap().into();
    let state = MessageState {
        state: State::Delivered,
        at: 2_000,
    };
    let batch = Batch {
        captures: vec![c],
        events: vec![routed(event)],
        states: vec![(("twilio".into(), message.into()), state)],
        jobs: vec![job.clone()],
    };
    (batch, job)
}

#[tokio::test]
async fn a_data_directory_of_the_previous_layout_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let (pending, delivered, dead);
    let mut captures = Vec::new();
    let (dup_capture, first_event);
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("switchboard").unwrap();
        let (b1, j1) = forwarded(1, "SM10", 100);
        let (b2, j2) = forwarded(2, "SM11", 101);
        let (b3, j3) = forwarded(3, "SM12", 102);
        for b in [&b1, &b2, &b3] {
            old_commit(&tree, b);
            captures.push(b.captures[0].clone());
        }
        // Capture 4 repeated capture 1's event: the event record counts it.
        first_event = b1.events[0].event.clone();
        let mut dup = capture(4);
        dup.events = vec![first_event.id.clone()];
        let mut again = b1.events[0].clone();
        again.duplicates = 1;
        old_commit(
            &tree,
            &Batch {
                captures: vec![dup.clone()],
                events: vec![again],
                ..Batch::default()
            },
        );
        captures.push(dup.clone());
        dup_capture = dup.id;
        // A refused callback.
        let mut refused = capture(5);
        refused.status = CaptureStatus::Rejected {
            reason: "bad signature".into(),
        };
        refused.reply_status = 403;
        old_commit(
            &tree,
            &Batch {
                captures: vec![refused.clone()],
                ..Batch::default()
            },
        );
        captures.push(refused);
        // Job 101 delivered (a batch record), 102 dead, as that release
        // moved them; and a state of a release before states were stamped.
        let mut done = j2.delivered_record();
        done.attempts.push(Attempt {
            at: 3_000,
            status: Some(200),
            error: None,
            latency_ms: 3,
            response: "ok".into(),
        });
        tree.remove(id_key(JOB, 101)).unwrap();
        let batch = vec![done.clone()];
        tree.insert(records::batch_key(1_000, 101), encode(&batch).unwrap())
            .unwrap();
        tree.remove(id_key(JOB, 102)).unwrap();
        tree.insert(id_key(DEAD, 102), encode(&j3).unwrap())
            .unwrap();
        tree.insert(
            records::str_key(STATE, &["twilio", "SM13"]),
            br#"{"state":"sent"}"#.to_vec(),
        )
        .unwrap();
        db.flush().unwrap();
        (pending, delivered, dead) = (j1, done, j3);
    }
    for open in 0..2 {
        let s = SledStore::open(dir.path()).unwrap();
        let what = format!("open #{}", open + 1);
        for p in [CAPTURE, EVENT, STATE] {
            assert_eq!(s.db().unwrap().tree.scan_prefix([p]).count(), 0, "{what}");
        }
        let got = s.captures(None, 10).unwrap();
        let want: Vec<_> = captures.iter().rev().collect();
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                serde_json::to_value(g).unwrap(),
                serde_json::to_value(w).unwrap(),
                "{what}: capture {}",
                w.id
            );
        }
        let e = s.event(&first_event.id).unwrap().expect("event kept");
        assert_eq!(
            (e.event.clone(), e.duplicates),
            (first_event.clone(), 1),
            "{what}"
        );
        assert!(matches!(s.seen(&first_event).unwrap(), Seen::Before(p) if p.duplicates == 1));
        assert_eq!(
            s.capture(dup_capture).unwrap().unwrap().events,
            vec![first_event.id.clone()]
        );
        let repeated = s
            .events_of(&s.capture(dup_capture).unwrap().unwrap())
            .unwrap();
        assert_eq!(repeated.len(), 1, "{what}");
        assert_eq!(
            (&repeated[0].event, repeated[0].duplicates),
            (&first_event, 1)
        );
        for m in ["SM10", "SM11", "SM12"] {
            let st = s.message_state("twilio", m).unwrap().expect("state kept");
            // Stamped at the upgrade: kept one retention period from then.
            assert!(st.state == State::Delivered && st.at > 2_000, "{what}: {m}");
        }
        let legacy = s.message_state("twilio", "SM13").unwrap().unwrap();
        assert!(
            legacy.state == State::Sent && legacy.at > 2_000,
            "stamped at the upgrade"
        );
        let p = s.pending_jobs().unwrap();
        assert_eq!(p.len(), 1, "{what}");
        assert_eq!((p[0].id, &p[0].payload), (pending.id, &pending.payload));
        let d = s.dead_jobs().unwrap();
        assert_eq!(d.iter().map(|j| j.id).collect::<Vec<_>>(), vec![dead.id]);
        let listed = s.delivered_jobs(&|_| true, 10).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].id, listed[0].attempts.len()), (delivered.id, 1));
    }
}
