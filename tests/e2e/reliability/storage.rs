//! A data directory that runs out of space or goes read-only: the router
//! stops acknowledging, recovers without a restart, and keeps everything
//! it acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use super::{assert_all_stored, wait_until};
use crate::support::*;

/// A small ext4 file system on a loop device, mounted for the test (we run
/// as root here) with `errors=remount-ro`; unmounted when dropped. `None`
/// where it cannot be made. ext4 rather than tmpfs because a running
/// process's data directory only goes read-only the way the kernel does
/// it on a disk error: `mount -o remount,ro` is refused while files are
/// open for writing ("mount point is busy").
struct ScratchFs {
    at: std::path::PathBuf,
    image: std::path::PathBuf,
    /// The loop device's name (`loop0`), for its ext4 sysfs directory.
    device: String,
}

/// Runs a command; whether it succeeded (its stderr printed if not).
fn run(cmd: &str, args: &[&std::ffi::OsStr]) -> bool {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!("{cmd}: {}", String::from_utf8_lossy(&out.stderr).trim());
            false
        }
        Err(e) => {
            eprintln!("{cmd}: {e}");
            false
        }
    }
}

impl ScratchFs {
    fn mount(at: &std::path::Path, image: &std::path::Path, size: u64) -> Option<ScratchFs> {
        std::fs::create_dir_all(at).unwrap();
        std::fs::File::create(image).unwrap().set_len(size).unwrap();
        if !run("mkfs.ext4", &["-q".as_ref(), "-F".as_ref(), image.as_ref()]) {
            return None;
        }
        if !mount_image(image, at) {
            return None;
        }
        // Unmounted on drop from here on.
        let mut fs = ScratchFs {
            at: at.to_owned(),
            image: image.to_owned(),
            device: String::new(),
        };
        let out = std::process::Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(at)
            .output()
            .ok()?;
        let source = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        fs.device = source.rsplit('/').next().unwrap_or_default().to_owned();
        Some(fs)
    }

    /// Makes the kernel switch the file system to read-only, as ext4 does
    /// on an I/O error (`errors=remount-ro`): every write fails from now on.
    fn go_read_only(&self) {
        let knob = format!("/sys/fs/ext4/{}/trigger_fs_error", self.device);
        std::fs::write(&knob, "1").unwrap_or_else(|e| panic!("{knob}: {e}"));
        let probe = std::fs::write(self.at.join("probe"), "x");
        assert!(probe.is_err(), "the file system still takes writes");
    }

    /// The operator's repair of a file system that went read-only on an
    /// error (it cannot be switched back in place): unmount it, then mount
    /// it again. The unmount only succeeds once nothing holds a file open
    /// on it: the router must have let go of its store. How long that took.
    fn remount(&self) -> Duration {
        let started = Instant::now();
        while !run("umount", &[self.at.as_ref()]) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the router keeps files open on a read-only data directory"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = started.elapsed();
        assert!(
            mount_image(&self.image, &self.at),
            "mount {}",
            self.image.display()
        );
        took
    }

    /// Fills the file system with a file until it has no space left.
    fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(self.at.join("filler")).unwrap();
        let chunk = vec![7u8; 64 << 10];
        let mut written = 0u64;
        while f.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        let _ = f.sync_all();
        written
    }

    fn unfill(&self) {
        std::fs::remove_file(self.at.join("filler")).unwrap();
    }
}

fn mount_image(image: &std::path::Path, at: &std::path::Path) -> bool {
    let opts = "loop,errors=remount-ro";
    run(
        "mount",
        &["-o".as_ref(), opts.as_ref(), image.as_ref(), at.as_ref()],
    )
}

impl Drop for ScratchFs {
    fn drop(&mut self) {
        // The loop device goes with the last reference to the mount.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.at)
            .status();
    }
}

/// Sends callbacks `{prefix}-0..` one at a time, recording what each got,
/// until `until(status)` or `max` callbacks; returns the statuses.
fn send_until(
    router: &Router,
    prefix: &str,
    max: usize,
    acked: &mut BTreeSet<String>,
    until: impl Fn(u16) -> bool,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..max {
        let id = format!("{prefix}-{i}");
        let status = router.send(&mysmsgate_report(&id, "delivered")).status;
        statuses.push(status);
        if (200..300).contains(&status) {
            acked.insert(id);
        }
        if until(status) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    statuses
}

fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut t = BTreeMap::new();
    for s in statuses {
        *t.entry(*s).or_default() += 1;
    }
    t
}

#[test]
fn a_full_or_read_only_data_dir_stops_acknowledgements_until_space_returns() {
    let sink = Sink::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::copy(wasm("mysmsgate"), dir.join("plugins/mysmsgate.wasm")).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        config(&["mysmsgate"], &http_destination(&sink.url())),
    )
    .unwrap();
    let Some(fs) = ScratchFs::mount(&dir.join("data"), &dir.join("data.img"), 32 << 20) else {
        // Not root, or no loop devices: nothing here can make a write fail
        // for real.
        eprintln!("SKIPPED: cannot mount a scratch ext4 file system here (not root?)");
        return;
    };
    let mut router = Router::spawn(dir);
    let mut acked = BTreeSet::new();
    let before = send_until(&router, "room", 10, &mut acked, |_| false);
    assert_eq!(tally(&before), BTreeMap::from([(200, 10)]));

    // Full: the router must stop acknowledging (5xx: the provider retries).
    let filled = fs.fill();
    let full = send_until(&router, "full", 400, &mut acked, |s| s >= 500);
    println!("disk full ({filled} bytes of filler): {:?}", tally(&full));
    assert!(
        *full.last().unwrap() == 503,
        "{:?}\n{}",
        tally(&full),
        router.log()
    );
    let more = send_until(&router, "fullagain", 5, &mut acked, |_| false);
    assert_eq!(tally(&more), BTreeMap::from([(503, 5)]), "{}", router.log());

    // Space returns: acknowledgements resume, without a restart.
    fs.unfill();
    let back = send_until(&router, "back", 200, &mut acked, |s| s == 200);
    println!("space back: {:?}", tally(&back));
    assert_eq!(
        *back.last().unwrap(),
        200,
        "{:?}\n{}",
        tally(&back),
        router.log()
    );

    // Read-only (the kernel's switch on a disk error): the same, and the
    // router lets go of the volume so that it can be repaired.
    fs.go_read_only();
    let ro = send_until(&router, "ro", 400, &mut acked, |s| s >= 500);
    println!("read-only: {:?}", tally(&ro));
    assert_eq!(
        *ro.last().unwrap(),
        503,
        "{:?}\n{}",
        tally(&ro),
        router.log()
    );
    let more = send_until(&router, "roagain", 5, &mut acked, |_| false);
    assert_eq!(tally(&more), BTreeMap::from([(503, 5)]), "{}", router.log());
    let unmounted_after = fs.remount();
    let rw = send_until(&router, "rw", 200, &mut acked, |s| s == 200);
    println!(
        "remounted (unmounted after {unmounted_after:?}), read-write again: {:?}",
        tally(&rw)
    );
    assert_eq!(
        *rw.last().unwrap(),
        200,
        "{:?}\n{}",
        tally(&rw),
        router.log()
    );

    // How the store went through it, from the router's log.
    let log = router.log();
    let store_lines = log.lines().filter(|l| {
        ["store I/O failed", "store reopened", "cannot be reopened"]
            .iter()
            .any(|m| l.contains(m))
    });
    for line in store_lines {
        println!("{line}");
    }

    // Whatever was acknowledged is kept: after a kill -9 and a restart it
    // is in the store, and delivered.
    router.kill9();
    let router = Router::spawn(dir);
    assert_all_stored(&acked, &router);
    let got = wait_until(Duration::from_secs(15), || {
        let got: BTreeSet<String> = sink
            .events()
            .iter()
            .map(|r| {
                r.json["data"]["message_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        acked.is_subset(&got).then_some(got)
    });
    assert!(
        got.is_some(),
        "acknowledged, not delivered\n{}",
        router.log()
    );
    println!(
        "storage faults: {} acknowledged, all stored and delivered",
        acked.len()
    );
    drop(router);
    drop(fs);
}
