use super::*;

mod layout_tests;
mod upgrade;

pub(super) fn capture(id: u64) -> Capture {
    Capture {
        id,
        plugin: "twilio".into(),
        route: "/smsCallback".into(),
        method: "POST".into(),
        url: "https://h/api/v1/smsCallback".into(),
        path: "/smsCallback".into(),
        query: String::new(),
        headers: vec![("x-twilio-signature".into(), "abc".into())],
        body: vec![0, 159, 146, 150, b'a'],
        params: vec![],
        remote_addr: "127.0.0.1".into(),
        received_at: 1,
        status: CaptureStatus::Accepted,
        reply_status: 200,
        events: vec![],
    }
}

pub(super) fn job(id: u64) -> Job {
    Job {
        id,
        destination: "d".into(),
        event_id: format!("evt_{id}"),
        lane: "twilio:SM1".into(),
        payload: std::sync::Arc::from("{}"),
        created_at: 0,
        due_at: 0,
        attempts: vec![],
        retries: 0,
    }
}

#[tokio::test]
async fn captures_round_trip_newest_first_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let first_id;
    {
        let s = SledStore::open(dir.path()).unwrap();
        first_id = s.next_id().unwrap();
        for id in [first_id, first_id + 1, first_id + 2] {
            s.commit(Batch {
                captures: vec![capture(id)],
                ..Batch::default()
            })
            .unwrap()
            .await
            .unwrap();
        }
        let got = s.capture(first_id).unwrap().unwrap();
        assert_eq!(got.body, vec![0, 159, 146, 150, b'a']);
        let ids: Vec<u64> = s.captures(None, 2).unwrap().iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![first_id + 2, first_id + 1]);
        let ids: Vec<u64> = s
            .captures(Some(first_id + 1), 10)
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec![first_id]);
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert!(s.capture(first_id + 2).unwrap().is_some());
    assert!(
        s.next_id().unwrap() > first_id,
        "ids must not repeat after a restart"
    );
}

#[tokio::test]
async fn jobs_move_from_pending_to_delivered_or_dead() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    s.commit(Batch {
        jobs: vec![job(1), job(2), job(3)],
        ..Batch::default()
    })
    .unwrap()
    .await
    .unwrap();
    let mut j2 = job(2);
    j2.due_at = 99;
    s.retry_job(&j2).unwrap();
    s.complete_job(&job(1)).unwrap();
    s.bury_job(&job(3)).unwrap();
    let pending = s.pending_jobs().unwrap();
    assert_eq!(
        pending.iter().map(|j| (j.id, j.due_at)).collect::<Vec<_>>(),
        vec![(2, 99)]
    );
    assert_eq!(
        s.dead_jobs()
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec![3]
    );
}

#[tokio::test]
async fn a_move_cut_short_by_a_crash_is_not_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    s.commit(Batch {
        jobs: vec![job(1), job(2)],
        ..Batch::default()
    })
    .unwrap()
    .await
    .unwrap();
    // The crash came after the delivered record, before the removal (as
    // versions before batched delivered records wrote them).
    s.db()
        .unwrap()
        .tree
        .insert(id_key(DELIVERED, 1), encode(&job(1)).unwrap())
        .unwrap();
    let pending: Vec<u64> = s.pending_jobs().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(pending, vec![2]);
    let db = s.db().unwrap();
    assert!(!db.tree.contains_key(id_key(JOB, 1)).unwrap(), "cleaned up");
}

/// Completions are recorded by the completer thread, batched; a flush
/// waits for them.
#[tokio::test]
async fn delivered_jobs_are_recorded_by_a_flush_and_stay_delivered_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    s.commit(Batch {
        jobs: (1..=3).map(job).collect(),
        ..Batch::default()
    })
    .unwrap()
    .await
    .unwrap();
    s.complete_job(&job(1)).unwrap();
    s.complete_job(&job(2)).unwrap();
    s.flush().await.unwrap();
    let marks = s.db().unwrap().tree.scan_prefix([layout::DONE]).count();
    assert_eq!(marks, 2, "a delivered mark per job");
    let db = s.db().unwrap();
    assert!(!db.tree.contains_key(id_key(JOB, 1)).unwrap(), "retired");
    drop(db);
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    let pending: Vec<u64> = s.pending_jobs().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(pending, vec![3]);
    // Listed most recent first, filtered, limited, without their payload
    // (and read without a flush: the listing waits for the completer).
    s.complete_job(&job(3)).unwrap();
    let ids = |keep: &dyn Fn(&Job) -> bool, limit| -> Vec<u64> {
        s.delivered_jobs(keep, limit)
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect()
    };
    assert_eq!(ids(&|_| true, 10), vec![3, 2, 1]);
    assert_eq!(ids(&|_| true, 2), vec![3, 2]);
    assert_eq!(ids(&|j| j.id != 2, 10), vec![3, 1]);
    assert!(
        s.delivered_jobs(&|_| true, 1).unwrap()[0]
            .payload
            .is_empty()
    );
}

#[tokio::test]
async fn compaction_removes_old_captures_events_delivered_records_and_states_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let old_event = layout_tests::status_event(1, "SMold", 100);
    let mut old = capture(1);
    old.received_at = 100;
    old.events = vec![old_event.id.clone()];
    let mut new = capture(2);
    new.received_at = 5_000;
    let mut delivered_old = job(3);
    delivered_old.created_at = 100;
    let mut delivered_new = job(4);
    delivered_new.created_at = 5_000;
    let pending = job(5);
    s.commit(Batch {
        captures: vec![old, new],
        events: vec![layout_tests::routed(old_event)],
        jobs: vec![delivered_old.clone(), delivered_new.clone(), pending],
        states: [("SMold", 100), ("SMnew", 5_000)]
            .map(|(m, at)| {
                let state = crate::event::State::Delivered;
                (("twilio".into(), m.into()), MessageState { state, at })
            })
            .into(),
    })
    .unwrap()
    .await
    .unwrap();
    s.complete_job(&delivered_old).unwrap();
    s.complete_job(&delivered_new).unwrap();
    let done = s.compact(1_000).unwrap();
    assert_eq!(
        done,
        Compacted {
            captures: 1,
            events: 1,
            delivered: 1,
            states: 1,
            rotated: None,
        }
    );
    assert!(s.message_state("twilio", "SMold").unwrap().is_none());
    assert!(s.message_state("twilio", "SMnew").unwrap().is_some());
    assert!(s.capture(1).unwrap().is_none() && s.capture(2).unwrap().is_some());
    assert_eq!(s.pending_jobs().unwrap().len(), 1);
    assert_eq!(s.compact(1_000).unwrap(), Compacted::default());
}

pub(super) fn only_capture(id: u64) -> Batch {
    Batch {
        captures: vec![capture(id)],
        ..Batch::default()
    }
}

/// Polls `f` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}");
}

/// A real full disk is in the e2e tests (tests/e2e/reliability.rs); here
/// the I/O error is reported as sled would report it.
#[tokio::test]
async fn an_io_error_closes_the_database_until_it_is_reopened_keeping_what_was_durable() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    s.commit(only_capture(1)).unwrap().await.unwrap();
    let id_before = s.next_id().unwrap();

    // A call on the database fails, and leaves a write behind unflushed.
    let w = s.writer().unwrap();
    s.insert(&w, id_key(CAPTURE, 2), encode(&capture(2)).unwrap())
        .unwrap();
    let failed = w.open.clone();
    drop(w);
    let fault = sled::Error::Io(std::io::Error::other("injected fault"));
    assert!(matches!(
        s.fail(&failed, fault),
        StoreError::Sled { source, .. } if matches!(*source, sled::Error::Io(_))
    ));
    // While a call still holds it, the store is closed: nothing new is
    // acknowledged, and the unflushed write is never reported durable.
    eventually("the store refuses commits", || {
        s.commit(only_capture(3)).is_err()
    })
    .await;
    let unflushed = s.durable(failed.generation);
    drop(failed);
    assert!(unflushed.await.is_err(), "not durable: its database closed");

    // Reopened: commits are durable again, and what was durable is there.
    eventually("the store takes commits again", || s.db().is_ok()).await;
    assert_eq!(s.db().unwrap().generation, 2);
    s.commit(only_capture(4)).unwrap().await.unwrap();
    assert!(s.capture(1).unwrap().is_some() && s.capture(4).unwrap().is_some());
    assert!(s.next_id().unwrap() > id_before, "ids must not repeat");
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    assert!(s.capture(1).unwrap().is_some() && s.capture(4).unwrap().is_some());
}

/// `switchboard captures` and friends open the store when no router runs;
/// tried while one runs, they must not delete the database its rotation
/// is filling.
#[tokio::test]
async fn a_second_open_while_the_store_is_in_use_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let _running = SledStore::open(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join("db.1")).unwrap();
    assert!(
        SledStore::open(dir.path()).is_err(),
        "sled's lock refuses it"
    );
    assert!(
        dir.path().join("db.1").exists(),
        "the rotation's database stays"
    );
}
