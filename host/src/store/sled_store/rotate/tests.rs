//! Rotation under load and after a crash: space given back, no
//! acknowledged write lost, a half-done copy discarded.

use crate::store::sled_store::tests::{capture, job, only_capture};
use crate::store::sled_store::*;

/// Writes `n` captures of `body_len` bytes each in one durable commit.
async fn captures_of(s: &SledStore, n: usize, body_len: usize) -> Vec<u64> {
    let mut batch = Batch::default();
    for _ in 0..n {
        let mut c = capture(s.next_id().unwrap());
        c.body = vec![b'x'; body_len];
        batch.captures.push(c);
    }
    let ids = batch.captures.iter().map(|c| c.id).collect();
    s.commit(batch).unwrap().await.unwrap();
    ids
}

#[tokio::test]
async fn a_rotation_gives_back_the_space_of_deleted_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let kept = captures_of(&s, 100, 1000).await;
    // Churn, as retention makes it: records come and go.
    for _ in 0..30 {
        for _ in 0..10 {
            captures_of(&s, 100, 1000).await;
        }
        let w = s.writer().unwrap();
        let gone: Vec<_> = w
            .open
            .tree
            .scan_prefix([layout::RECORD])
            .keys()
            .skip(100)
            .collect();
        for k in gone {
            s.remove(&w, k.unwrap()).unwrap();
        }
    }
    let r = s.rotate().unwrap();
    println!(
        "rotation: {} records, {} -> {} bytes in {:?}",
        r.records, r.before, r.after, r.took
    );
    assert_eq!(r.records, 100);
    assert!(r.after * 3 < r.before, "{} -> {} bytes", r.before, r.after);
    assert_eq!(s.size_on_disk().unwrap(), r.after);
    for id in kept {
        assert!(s.capture(id).unwrap().is_some(), "capture {id} kept");
    }
}

/// Writers keep committing, completing and burying while a rotation copies
/// and swaps: every acknowledged write is in the new database, nothing
/// deleted comes back, ids keep growing, and a restart opens the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_under_concurrent_writes_keeps_every_acknowledged_write() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut preloaded = captures_of(&s, 15_000, 200).await;
    // Dead letters too: their keys sort last, so the copy is still busy
    // with them when the writers' captures and jobs come in behind it.
    let dead_ids: Vec<u64> = (0..15_000).map(|_| s.next_id().unwrap()).collect();
    let durable = s
        .commit(Batch {
            jobs: dead_ids.iter().map(|id| job(*id)).collect(),
            ..Batch::default()
        })
        .unwrap();
    durable.await.unwrap();
    for id in &dead_ids {
        s.bury_job(&job(*id)).unwrap();
    }
    preloaded.extend(&dead_ids);
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop, writes) = (s.clone(), stop.clone(), writes.clone());
            let rt = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let mut done = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    // As the pipeline takes a capture id (the ticket's lock
                    // must not stall behind a rotation's gate).
                    let ticket = s.begin().unwrap();
                    let id = ticket.id;
                    let durable = s
                        .commit(Batch {
                            captures: vec![capture(id)],
                            jobs: vec![job(id)],
                            ..Batch::default()
                        })
                        .unwrap();
                    rt.block_on(durable)
                        .expect("acknowledged during a rotation");
                    drop(ticket);
                    match id % 3 {
                        0 => s.complete_job(&job(id)).unwrap(),
                        1 => s.bury_job(&job(id)).unwrap(),
                        _ => {}
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                    done.push(id);
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let before = writes.load(Ordering::Relaxed);
    let rotator = s.clone();
    let r = tokio::task::spawn_blocking(move || rotator.rotate())
        .await
        .unwrap()
        .unwrap();
    let during = writes.load(Ordering::Relaxed) - before;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    println!(
        "rotation: {} records in {:?}, {during} commits during it, {} in all",
        r.records,
        r.took,
        written.len()
    );
    assert!(during > 0, "no write overlapped the rotation");
    let unique: std::collections::BTreeSet<_> = written.iter().collect();
    assert_eq!(unique.len(), written.len(), "an id was handed out twice");
    assert!(written.iter().all(|id| preloaded.iter().all(|p| p < id)));

    let check = |s: &SledStore| {
        for id in preloaded[..15_000].iter().chain(&written) {
            assert!(s.capture(*id).unwrap().is_some(), "capture {id} lost");
        }
        // Raw keys first: `pending_jobs` would hide (and clean up) a job
        // left behind by a move that is not in the new database whole.
        let raw: Vec<u64> = s
            .db()
            .unwrap()
            .tree
            .scan_prefix([JOB])
            .keys()
            .map(|k| u64::from_be_bytes(k.unwrap()[1..].try_into().unwrap()))
            .collect();
        let pending: Vec<u64> = s.pending_jobs().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(raw, pending, "jobs whose move was half copied");
        let want: Vec<u64> = {
            let mut w: Vec<u64> = written.iter().copied().filter(|id| id % 3 == 2).collect();
            w.sort();
            w
        };
        assert_eq!(pending, want, "pending jobs");
        let dead = s.dead_jobs().unwrap().len();
        let buried = written.iter().filter(|id| *id % 3 == 1).count();
        assert_eq!(dead, dead_ids.len() + buried, "dead letters");
    };
    check(&s);
    let last = *written.iter().max().unwrap();
    drop(s);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("db"))
        .collect();
    assert_eq!(
        names,
        vec!["db.1".to_owned()],
        "the old database is deleted"
    );
    let s = SledStore::open(dir.path()).unwrap();
    check(&s);
    assert!(s.next_id().unwrap() > last, "ids must keep growing");
}

#[tokio::test]
async fn a_rotation_cut_short_by_a_crash_leaves_the_old_database() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.commit(only_capture(1)).unwrap().await.unwrap();
    }
    // What a crash during the copy leaves: a new database, not yet named
    // in CURRENT.
    std::fs::create_dir_all(dir.path().join("db.1")).unwrap();
    std::fs::write(dir.path().join("db.1/db"), b"half copied").unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert!(s.capture(1).unwrap().is_some());
    assert!(
        !dir.path().join("db.1").exists(),
        "the half copy is deleted"
    );
    // And the next rotation still works.
    s.rotate().unwrap();
    assert!(s.capture(1).unwrap().is_some());
}
