//! Stage 3: the provider plugins. One wasmtime `Engine` and `Linker`; each
//! plugin is compiled once (cached on disk), pre-instantiated, and every
//! request runs in a fresh `Store` with a memory cap, an epoch deadline and
//! limits on what it may return.

mod bindings;
mod call;
mod certs;
mod clocks;
mod convert;
mod load;
mod schedule;

pub use bindings::method_name;
pub use bindings::switchboard::provider::types as wit;
pub use call::{CallError, Limits};
pub use convert::approx_size;
pub use load::{LoadError, Plugin, Runtime, SUPPORTED_CONTRACT};
pub use schedule::{Called, Scheduler, Suspect};
