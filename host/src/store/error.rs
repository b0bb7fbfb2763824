//! The store's one error type, for both engines.

/// A cause kept as a value whatever its type (postcard's, serde_json's,
/// async-nats's); it crosses threads with the error.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a store call failed (see STYLE.md "Errors"). Every message but
/// `Corrupt`'s reads `store I/O: `, what the store was doing (`context`,
/// where there is one), then the cause's own message; the cause is kept as
/// the `source`, for code that inspects it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed. After an I/O error sled poisons the database (every
    /// later call returns that error): `sled_store/records.rs` `fail` tells
    /// the flusher, which reopens it (`sled_store/engine.rs`). Shared
    /// because one failed flush answers every writer that waited for it
    /// (so `source()` downcasts to `Arc<sled::Error>`).
    #[error("store I/O: {}{source}", At(.context))]
    Sled {
        context: Option<String>,
        #[source]
        source: std::sync::Arc<sled::Error>,
    },
    /// A file or directory of the store, or a thread or runtime it starts,
    /// failed.
    #[error("store I/O: {context}: {source}")]
    File {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded (postcard or JSON).
    #[error("store I/O: {}{source}", At(.context))]
    Encode {
        context: Option<String>,
        #[source]
        source: Cause,
    },
    /// NATS JetStream failed.
    #[error("store I/O: {context}: {source}")]
    JetStream {
        context: String,
        #[source]
        source: Cause,
    },
    /// The store in `dir` could not be opened.
    #[error("store I/O: {dir}: {source}")]
    Open {
        dir: std::path::PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    /// The store cannot serve this now and there is no underlying error
    /// (closed after a fault, busy, a worker stopped, no answer in time).
    #[error("store I/O: {0}")]
    Unavailable(String),
    #[error("corrupt record `{key}`: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
    /// sled failed; its message says enough.
    pub fn sled(source: impl Into<std::sync::Arc<sled::Error>>) -> Self {
        StoreError::Sled {
            context: None,
            source: source.into(),
        }
    }

    /// sled failed doing `context` (or on the path it names).
    pub fn sled_at(
        context: impl Into<String>,
        source: impl Into<std::sync::Arc<sled::Error>>,
    ) -> Self {
        StoreError::Sled {
            context: Some(context.into()),
            source: source.into(),
        }
    }

    pub fn file(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::File {
            context: context.into(),
            source,
        }
    }

    pub fn encode(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        StoreError::Encode {
            context: Some(context.into()),
            source: source.into(),
        }
    }

    pub fn jetstream(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        StoreError::JetStream {
            context: context.into(),
            source: source.into(),
        }
    }

    pub fn unavailable(why: impl Into<String>) -> Self {
        StoreError::Unavailable(why.into())
    }
}

/// What an optional context prints before its cause: `context: `, or
/// nothing.
struct At<'a>(&'a Option<String>);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(context) => write!(f, "{context}: "),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn sled_fault() -> sled::Error {
        sled::Error::Io(std::io::Error::other("injected fault"))
    }

    /// The messages read as they did when each was a `format!`ed string;
    /// the cause is kept as a value, and `error::chain` prints it once.
    #[test]
    fn messages_keep_their_text_and_their_cause() {
        let fault = sled_fault().to_string();
        let e = StoreError::sled(sled_fault());
        assert_eq!(e.to_string(), format!("store I/O: {fault}"));
        assert!(matches!(
            &e,
            StoreError::Sled { source, .. } if matches!(**source, sled::Error::Io(_))
        ));
        let e = StoreError::sled_at("settle", sled_fault());
        assert_eq!(e.to_string(), format!("store I/O: settle: {fault}"));
        assert_eq!(crate::error::chain(&e), e.to_string());

        let e = StoreError::file("/data", std::io::Error::other("disk full"));
        assert_eq!(e.to_string(), "store I/O: /data: disk full");
        assert!(e.source().is_some_and(|s| s.is::<std::io::Error>()));

        let e = StoreError::Encode {
            context: None,
            source: std::io::Error::other("bad").into(),
        };
        assert_eq!(e.to_string(), "store I/O: bad");
        assert_eq!(
            StoreError::unavailable("busy").to_string(),
            "store I/O: busy"
        );

        let e = StoreError::Open {
            dir: "/data".into(),
            source: Box::new(StoreError::file(
                "/data",
                std::io::Error::other("disk full"),
            )),
        };
        assert_eq!(
            e.to_string(),
            "store I/O: /data: store I/O: /data: disk full"
        );
        assert_eq!(crate::error::chain(&e), e.to_string());
    }
}
