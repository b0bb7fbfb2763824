//! What the store holds, read for the operator: captures, events and
//! delivery jobs, and replay of stored captures.

use hyper::StatusCode;

use super::{Admin, JobFilter, Reply, error, json, param};

impl Admin {
    pub(super) async fn replay(
        &self,
        query: &[(String, String)],
    ) -> crate::store::StoreResult<Reply> {
        let q = |k: &str| param(query, k);
        let num = |k: &str| q(k).and_then(|v| v.parse::<i64>().ok());
        let sel = crate::replay::Selection {
            capture: num("capture").map(|v| v as u64),
            plugin: q("plugin").map(str::to_owned),
            status: q("status").filter(|s| *s != "all").map(str::to_owned),
            since: num("since"),
            until: num("until"),
            limit: num("limit").map_or(100, |l| l.clamp(1, 10_000) as usize),
        };
        if sel.capture.is_none()
            && sel.plugin.is_none()
            && sel.status.is_none()
            && sel.since.is_none()
        {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "select captures: capture, plugin, status and/or since",
            ));
        }
        let mut results = Vec::new();
        for c in crate::replay::select(self.store.as_ref(), &sel)? {
            results.push(crate::replay::replay(&self.pipeline, &self.store, &self.mounts, c).await);
        }
        Ok(json(StatusCode::OK, &results))
    }

    pub(super) fn captures(&self, query: &[(String, String)]) -> crate::store::StoreResult<Reply> {
        let q = |k: &str| param(query, k);
        let limit = q("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(50usize)
            .min(1000);
        let before = q("before").and_then(|b| b.parse().ok());
        let (plugin, status) = (q("plugin"), q("status"));
        // Filters apply to a window of recent captures, scanned in pages.
        let mut out = Vec::new();
        let mut cursor = before;
        while out.len() < limit {
            let page = self.store.captures(cursor, 500)?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.id);
            for c in page {
                let status_name = match &c.status {
                    crate::store::CaptureStatus::Accepted => "accepted",
                    crate::store::CaptureStatus::Rejected { .. } => "rejected",
                    crate::store::CaptureStatus::Quarantined { .. } => "quarantined",
                };
                if plugin.is_none_or(|p| p == c.plugin) && status.is_none_or(|s| s == status_name) {
                    out.push(c);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        }
        Ok(json(StatusCode::OK, &out))
    }

    pub(super) fn events(
        &self,
        provider: Option<&str>,
        limit: Option<&str>,
    ) -> crate::store::StoreResult<Reply> {
        let limit = limit
            .and_then(|l| l.parse().ok())
            .unwrap_or(50usize)
            .min(1000);
        let mut out = Vec::new();
        let mut cursor = None;
        'pages: while out.len() < limit {
            let page = self.store.captures(cursor, 200)?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.id);
            for c in page
                .iter()
                .filter(|c| provider.is_none_or(|p| p == c.plugin))
            {
                for e in self.store.events_of(c)? {
                    out.push(e);
                    if out.len() == limit {
                        break 'pages;
                    }
                }
            }
        }
        Ok(json(StatusCode::OK, &out))
    }

    pub(super) fn deliveries(
        &self,
        state: Option<&str>,
        filter: &JobFilter,
        limit: Option<&str>,
    ) -> crate::store::StoreResult<Reply> {
        let limit = limit.and_then(|l| l.parse().ok()).unwrap_or(100usize);
        let state = state.unwrap_or("dead");
        Ok(match filter.list(self.store.as_ref(), state, limit)? {
            Some(jobs) => json(StatusCode::OK, &jobs),
            None => error(
                StatusCode::BAD_REQUEST,
                format!("state `{state}`: want dead, pending or delivered"),
            ),
        })
    }
}
