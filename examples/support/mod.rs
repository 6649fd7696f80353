//! Shared by the load clients: latency percentiles and the summary line.

use std::time::Duration;

/// Sorts `lat` and returns (p50, p99, max) in milliseconds.
pub fn percentiles_ms(lat: &mut [Duration]) -> (f64, f64, f64) {
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    };
    let max = lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3;
    (pct(0.50), pct(0.99), max)
}

/// Sends a request and returns its latency if it was answered 201 (the
/// body read), `None` for any other answer or error.
#[allow(dead_code, reason = "only the examples that file reports use it")]
pub async fn created_in(req: reqwest::RequestBuilder) -> Option<std::time::Duration> {
    let t = std::time::Instant::now();
    match req.send().await {
        Ok(resp) if resp.status() == 201 => {
            let _ = resp.bytes().await;
            Some(t.elapsed())
        }
        _ => None,
    }
}
