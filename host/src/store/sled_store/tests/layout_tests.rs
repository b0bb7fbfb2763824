//! The layout of `layout.rs`: one record per callback, the job inside it
//! until it is delivered, one message record for dedup and state.

use super::*;
use crate::config::Transform;
use crate::outbox::Target;
use crate::plugin::wit;

/// A Twilio-like delivery receipt of `message`, produced by capture `capture`.
pub(crate) fn status_event(capture: u64, message: &str, received_at: i64) -> Event {
    let ev = wit::Event {
        id: format!("{message}-delivered"),
        kind: wit::EventKind::DeliveryStatus(wit::DeliveryStatus {
            message_id: message.into(),
            state: wit::DeliveryState::Delivered,
            provider_status: "delivered".into(),
            error_code: None,
            from: Some("+15005550006".into()),
            to: Some("+61400000000".into()),
            channel: wit::Channel::Sms,
            occurred_at: None,
            message_ref: None,
            campaign_id: None,
        }),
        extra: vec![("AccountSid".into(), "AC1".into())],
    };
    Event::from_plugin("twilio", None, capture, received_at, ev)
}

pub(crate) fn routed(event: Event) -> StoredEvent {
    StoredEvent {
        event,
        disposition: Disposition::Routed,
        routes: vec!["all".into()],
        duplicates: 0,
    }
}

/// The batch the pipeline commits for one callback forwarded to `crm`
/// through `transform`.
fn callback(s: &SledStore, message: &str, transform: Transform) -> (Batch, Event, Job) {
    let id = s.next_id().unwrap();
    let event = status_event(id, message, 1_000);
    let targets = [Target {
        destination: "crm".into(),
        transform: Arc::new(transform),
    }];
    let mut next = || s.next_id();
    let jobs = crate::outbox::jobs_for(&event, &targets, 2_000, &mut next).unwrap();
    let mut c = capture(id);
    c.events = vec![event.id.clone()];
    let batch = Batch {
        captures: vec![c],
        events: vec![routed(event.clone())],
        states: vec![(
            ("twilio".into(), message.into()),
            MessageState {
                state: crate::event::State::Delivered,
                at: 2_000,
            },
        )],
        jobs: jobs.clone(),
    };
    (batch, event, jobs[0].clone())
}

fn count(s: &SledStore, prefix: u8) -> usize {
    s.db().unwrap().tree.scan_prefix([prefix]).count()
}

#[tokio::test]
async fn a_callback_is_one_record_and_its_job_lives_in_it_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (event, job) = {
        let s = SledStore::open(dir.path()).unwrap();
        let (batch, event, job) = callback(&s, "SM1", Transform::Envelope);
        s.commit(batch).unwrap().await.unwrap();
        let per_prefix: Vec<usize> = [layout::RECORD, layout::MESSAGE]
            .into_iter()
            .chain([JOB, CAPTURE, EVENT, STATE])
            .map(|p| count(&s, p))
            .collect();
        assert_eq!(per_prefix, [1, 1, 0, 0, 0, 0]);
        // Dedup and state from the one message record.
        match s.seen(&event).unwrap() {
            Seen::Before(prior) => {
                assert_eq!(prior.event, event);
                assert_eq!(prior.duplicates, 0);
                assert_eq!(prior.routes, vec!["all".to_string()]);
            }
            other => panic!("not seen: {other:?}"),
        }
        let other = status_event(0, "SM1", 1_000);
        let mut other = other;
        other.id = "evt_other".into();
        assert!(
            matches!(s.seen(&other).unwrap(), Seen::New(Some(st)) if st.state == crate::event::State::Delivered)
        );
        assert_eq!(s.event(&event.id).unwrap().unwrap().event, event);
        (event, job)
    };
    let s = SledStore::open(dir.path()).unwrap();
    let pending = s.pending_jobs().unwrap();
    assert_eq!(pending.len(), 1);
    let p = &pending[0];
    assert_eq!(
        (p.id, &p.destination, &p.lane),
        (job.id, &job.destination, &job.lane)
    );
    assert_eq!(*p.payload, *job.payload, "the envelope is the stored event");
    assert_eq!(serde_json::from_str::<Event>(&p.payload).unwrap(), event);
    let mut delivered = job.clone();
    delivered.attempts.push(Attempt {
        at: 3_000,
        status: Some(200),
        error: None,
        latency_ms: 4,
        response: "ok".into(),
    });
    s.complete_job(&delivered).unwrap();
    s.flush().await.unwrap();
    assert_eq!(count(&s, layout::DONE), 1);
    // Nothing pending: the mark is past the record, start-up skips it.
    let mark = pending::watermark(&s.db().unwrap(), &|e| StoreError::sled(e)).unwrap();
    assert!(
        mark > event.capture_id,
        "mark {mark}, capture {}",
        event.capture_id
    );
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    assert!(s.pending_jobs().unwrap().is_empty());
    let listed = s.delivered_jobs(&|_| true, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, &listed[0].event_id), (job.id, &event.id));
    assert_eq!(listed[0].attempts[0].status, Some(200));
}

#[tokio::test]
async fn a_transformed_payload_is_kept_and_a_replay_keeps_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let (batch, event, job) = callback(&s, "SM2", Transform::Data);
    assert_ne!(*job.payload, *serde_json::to_string(&event).unwrap());
    let capture = batch.captures[0].clone();
    s.commit(batch).unwrap().await.unwrap();
    // The same capture replayed: its event is a duplicate of itself.
    let mut prior = routed(event.clone());
    prior.duplicates = 1;
    s.commit(Batch {
        captures: vec![capture],
        events: vec![prior],
        ..Batch::default()
    })
    .unwrap()
    .await
    .unwrap();
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    let pending = s.pending_jobs().unwrap();
    assert_eq!(pending.len(), 1, "the replay kept the job");
    assert_eq!(*pending[0].payload, *job.payload);
    match s.seen(&event).unwrap() {
        Seen::Before(p) => assert_eq!(p.duplicates, 1),
        other => panic!("not seen: {other:?}"),
    }
}

#[tokio::test]
async fn retention_deletes_a_record_but_not_its_pending_job() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let (batch, _, job) = callback(&s, "SM3", Transform::Envelope);
    let (batch2, _, job2) = callback(&s, "SM4", Transform::Envelope);
    s.commit(batch).unwrap().await.unwrap();
    s.commit(batch2).unwrap().await.unwrap();
    assert_eq!(s.pending_jobs().unwrap().len(), 2);
    s.complete_job(&job2).unwrap();
    let done = s.compact(5_000).unwrap();
    assert_eq!((done.captures, done.events), (2, 2));
    assert_eq!(count(&s, layout::RECORD), 0);
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    let pending = s.pending_jobs().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].id, &pending[0].payload), (job.id, &job.payload));
    s.complete_job(&job).unwrap();
    assert!(s.pending_jobs().unwrap().is_empty());
    assert_eq!(count(&s, JOB), 0);
}

fn mark(s: &SledStore) -> u64 {
    pending::watermark(&s.db().unwrap(), &|e| StoreError::sled(e)).unwrap()
}

/// The pending jobs' mark never passes a record that still has one: not a
/// capture in progress (its ticket holds the mark), and not a record
/// committed below the mark without a ticket (the commit lowers it first).
#[tokio::test]
async fn the_pending_mark_never_passes_a_record_with_a_pending_job() {
    let dir = tempfile::tempdir().unwrap();
    let (late, in_progress) = {
        let s = SledStore::open(dir.path()).unwrap();
        let ticket = s.begin().unwrap();
        // A capture id taken long ago, its record committed only later.
        let (late, _, _) = callback(&s, "SM5", Transform::Envelope);
        let (early, _, done) = callback(&s, "SM6", Transform::Envelope);
        s.commit(early).unwrap().await.unwrap();
        s.complete_job(&done).unwrap();
        s.flush().await.unwrap();
        assert!(mark(&s) <= ticket.id, "the ticket holds the mark");
        drop(ticket);
        let (more, _, more_job) = callback(&s, "SM7", Transform::Envelope);
        s.commit(more).unwrap().await.unwrap();
        s.complete_job(&more_job).unwrap();
        s.flush().await.unwrap();
        let late_id = late.captures[0].id;
        assert!(mark(&s) > late_id, "nothing held it: past the late record");
        let in_progress = late.jobs[0].clone();
        s.commit(late).unwrap().await.unwrap();
        assert!(mark(&s) <= late_id, "its commit lowered the mark");
        (late_id, in_progress)
    };
    let s = SledStore::open(dir.path()).unwrap();
    let pending = s.pending_jobs().unwrap();
    assert_eq!(pending.len(), 1, "late record {late}");
    assert_eq!(
        (pending[0].id, &pending[0].payload),
        (in_progress.id, &in_progress.payload)
    );
}

/// Jobs pending for long (their destination is down) are written out as
/// `j` records, so the mark moves on and start-up reads few records.
#[tokio::test]
async fn long_pending_jobs_are_written_out_and_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let job = {
        let s = SledStore::open(dir.path()).unwrap();
        let (batch, _, job) = callback(&s, "SM8", Transform::Envelope);
        s.commit(batch).unwrap().await.unwrap();
        assert_eq!(count(&s, JOB), 0);
        let flusher = s.flusher.clone().unwrap();
        complete::settle(&s.shared, &s.jobs, &flusher, std::time::Duration::ZERO).unwrap();
        assert_eq!(count(&s, JOB), 1, "written out");
        s.flush().await.unwrap();
        job
    };
    let s = SledStore::open(dir.path()).unwrap();
    let pending = s.pending_jobs().unwrap();
    assert_eq!(
        pending.len(),
        1,
        "once, not from the record and the j record both"
    );
    assert_eq!((pending[0].id, &pending[0].payload), (job.id, &job.payload));
    s.complete_job(&job).unwrap();
    assert!(s.pending_jobs().unwrap().is_empty());
    assert_eq!(count(&s, JOB), 0, "retired with the job");
}
