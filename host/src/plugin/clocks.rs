//! The clocks a plugin sees: frozen. Plugins are pure functions of the
//! request (its `received-at` is their time), so no clock moves, and a
//! guest sleep returns at once: a sleep blocks in a host call (a
//! monotonic-clock pollable waited on in `wasi:io/poll`), where the epoch
//! deadline cannot interrupt it, so a real sleep would hold a call (and a
//! pool thread) past its timeout.

use std::time::Duration;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

/// What `wall-clock` and `monotonic-clock` read: always zero.
pub(super) struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Replaces WASI's `monotonic-clock` (linked by `add_to_linker_sync`)
/// with the frozen one whose timers are already due.
pub(super) fn link_frozen_monotonic_clock<T: WasiView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked =
        monotonic_clock::add_to_linker::<T, Frozen>(linker, |s| FrozenMonotonic(s.ctx().table));
    linker.allow_shadowing(false);
    linked
}

struct Frozen;

impl HasData for Frozen {
    type Data<'a> = FrozenMonotonic<'a>;
}

struct FrozenMonotonic<'a>(&'a mut ResourceTable);

impl FrozenMonotonic<'_> {
    fn due_now(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let due = self.0.push(Due)?;
        subscribe(self.0, due)
    }
}

impl monotonic_clock::Host for FrozenMonotonic<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000_000_000)
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.due_now()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.due_now()
    }
}

/// A timer that has already fired.
struct Due;

#[wasmtime_wasi::async_trait]
impl Pollable for Due {
    async fn ready(&mut self) {}
}
