//! The error policy's one helper (see STYLE.md "Errors"): stages return
//! typed errors (thiserror) that keep their cause as `#[source]`; where an
//! error is finally logged or shown, `chain` prints it with every cause.

/// An error with its sources (`a: b: c`): hyper's, reqwest's and sled's
/// own messages alone hide why something failed. A source whose text the
/// message so far already holds is not repeated: our own errors print
/// their cause in their message and keep it as a source as well.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    enum Ours {
        /// The policy's shape: the message includes its source's.
        #[error("reading the config: {source}")]
        Read {
            #[source]
            source: std::io::Error,
        },
    }

    /// A message that leaves its cause out (as hyper's and reqwest's do).
    #[derive(Debug, thiserror::Error)]
    #[error("request failed")]
    struct Terse {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_holds_is_printed_once() {
        let e = Ours::Read {
            source: std::io::Error::other("permission denied"),
        };
        assert_eq!(chain(&e), "reading the config: permission denied");
    }

    #[test]
    fn a_cause_the_message_leaves_out_is_appended() {
        let e = Terse {
            source: std::io::Error::other("connection reset"),
        };
        assert_eq!(chain(&e), "request failed: connection reset");
    }

    /// Both, down a chain: the wrapper's cause is appended, the one that
    /// cause's own message includes is not.
    #[test]
    fn each_level_is_checked_against_what_is_printed() {
        #[derive(Debug, thiserror::Error)]
        #[error("store failed")]
        struct Outer {
            #[source]
            source: Ours,
        }
        let e = Outer {
            source: Ours::Read {
                source: std::io::Error::other("disk full"),
            },
        };
        assert_eq!(chain(&e), "store failed: reading the config: disk full");
    }
}
