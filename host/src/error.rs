//! The error policy's one helper (see STYLE.md "Errors"): stages return
//! typed errors (thiserror) that keep their cause as `#[source]`; where an
//! error is finally logged or shown, `chain` prints it with every cause.

/// An error with its sources (`a: b: c`): hyper's, reqwest's and sled's
/// own messages alone hide why something failed.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
