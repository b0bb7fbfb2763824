//! What the provider hears: every status the public listener sends for a
//! callback that reached a plugin's endpoint is decided here, from the
//! pipeline's typed outcome (the routing and limit statuses, 404/405/413,
//! are in `ingress.rs`).

use crate::config::QuarantineReply;
use crate::pipeline::{Outcome, Reply};
use crate::plugin::wit::PluginError;
use crate::protect::Refusal;

/// The reply for `outcome`. `quarantine` is `server.quarantine_reply`.
pub fn answer(outcome: &Outcome, quarantine: QuarantineReply) -> Reply {
    match outcome {
        // The plugin's reply, or an empty 200.
        Outcome::Accepted(reply) => reply
            .clone()
            .map(Reply::from)
            .unwrap_or_else(|| Reply::text(200, "")),
        Outcome::Refused(refusal) => {
            let status = match refusal {
                Refusal::Credentials => 401,
                Refusal::Source | Refusal::Token => 403,
            };
            let mut reply = Reply::text(status, &refusal.to_string());
            if status == 401 {
                reply.headers.push((
                    "www-authenticate".into(),
                    "Basic realm=\"switchboard\"".into(),
                ));
            }
            reply
        }
        Outcome::Rejected(e) => {
            let (status, reason) = match e {
                PluginError::BadRequest(r) => (400, r),
                // A signature that does not verify: the request is not
                // the provider's, whatever it claims.
                PluginError::Unauthorized(r) => (403, r),
                PluginError::Unsupported(r) => (422, r),
                PluginError::Internal(r) => (500, r),
            };
            Reply::text(status, reason)
        }
        // Kept for replay: the provider hears the plugin's `accept-reply`
        // (it need not resend) or 503 (it retries), as configured.
        Outcome::Quarantined(accept_reply) => match quarantine {
            QuarantineReply::Accept => Reply::from(accept_reply.clone()),
            QuarantineReply::Retry => {
                Reply::text(503, "temporarily unable to process; retry later")
            }
        },
        // Not kept: the provider must retry.
        Outcome::NotStored(_) => {
            Reply::text(503, "temporarily unable to store the callback; retry later")
        }
        Outcome::Crashed => Reply::text(500, "internal error; retry later"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn status(o: Outcome, q: QuarantineReply) -> u16 {
        answer(&o, q).status
    }

    #[test]
    fn every_outcome_has_its_status() {
        let accept = QuarantineReply::Accept;
        let reply = crate::plugin::wit::HttpResponse {
            status: 202,
            headers: vec![],
            body: b"ok".to_vec(),
        };
        assert_eq!(status(Outcome::Accepted(None), accept), 200);
        assert_eq!(status(Outcome::Accepted(Some(reply.clone())), accept), 202);
        assert_eq!(status(Outcome::Refused(Refusal::Token), accept), 403);
        assert_eq!(status(Outcome::Refused(Refusal::Source), accept), 403);
        let basic = answer(&Outcome::Refused(Refusal::Credentials), accept);
        assert_eq!(basic.status, 401);
        assert!(basic.headers.iter().any(|(k, _)| k == "www-authenticate"));
        for (e, want) in [
            (PluginError::BadRequest("x".into()), 400),
            (PluginError::Unauthorized("x".into()), 403),
            (PluginError::Unsupported("x".into()), 422),
        ] {
            assert_eq!(status(Outcome::Rejected(e), accept), want);
        }
        assert_eq!(status(Outcome::Quarantined(reply.clone()), accept), 202);
        assert_eq!(
            status(Outcome::Quarantined(reply), QuarantineReply::Retry),
            503
        );
        let e = StoreError::Corrupt {
            key: "k".into(),
            reason: "r".into(),
        };
        assert_eq!(status(Outcome::NotStored(e), accept), 503);
        assert_eq!(status(Outcome::Crashed, accept), 500);
    }
}
