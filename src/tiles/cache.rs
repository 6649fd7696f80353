//! A bounded cache of encoded tiles, invalidated tile by tile.
//!
//! Entries are keyed by tile and by a variant string (layers, filters,
//! encoding: whatever changes the bytes). When a report is committed or
//! changed, [`TileCache::invalidate_report_at`] drops, at every served zoom,
//! the report-bearing variants of every tile that can show it: the tiles
//! whose buffered bounds reach the report, or reach a hexagon holding it.
//!
//! Freshness rule (the caller's half of the contract): a tile is drawn and
//! put in the cache under the index *read* lock, and the writer invalidates
//! under the index *write* lock, so a tile drawn before a commit can never be
//! put back after the commit's invalidation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::geom::{BUFFER, EXTENT, MAX_LAT, TileId};
use super::render::{DENSE_TILE_HEX_RESOLUTION, TileSettings};
use crate::model::LonLat;
use crate::spatial::hexagons::cell_reach_deg;

/// One encoded tile as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedTile {
    /// Body bytes in the variant's encoding (gzip or identity).
    pub body: Arc<[u8]>,
    /// Strong validator of the body.
    pub etag: Arc<str>,
    /// The minute (since 1970) from which the tile is stale because a
    /// closed report it shows fades then; `None`: never by itself.
    pub expires_min: Option<u32>,
}

#[derive(Debug)]
struct Entry {
    variant: Arc<str>,
    /// Whether the variant draws reports (only those go stale on a commit).
    reports: bool,
    tile: CachedTile,
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    tiles: HashMap<TileId, Vec<Entry>>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// The cache; cheap to share (`&self` everywhere).
#[derive(Debug)]
pub struct TileCache {
    inner: Mutex<Inner>,
    budget_bytes: usize,
}

/// Counters, for `/health` and benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub tiles: usize,
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl TileCache {
    /// A cache holding at most about `budget_bytes` of tile bodies.
    #[must_use]
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            budget_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached variant of `tile`, if any.
    pub fn get(&self, tile: TileId, variant: &str) -> Option<CachedTile> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let found = inner
            .tiles
            .get_mut(&tile)
            .and_then(|v| v.iter_mut().find(|e| &*e.variant == variant))
            .map(|e| {
                e.used = tick;
                e.tile.clone()
            });
        match found {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        found
    }

    /// Stores a variant of `tile` (replacing an equal variant).
    pub fn put(&self, tile: TileId, variant: Arc<str>, reports: bool, body: CachedTile) {
        if body.body.len() > self.budget_bytes / 4 {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let used = inner.tick;
        let size = body.body.len() + variant.len();
        let entries = inner.tiles.entry(tile).or_default();
        let mut freed = 0;
        entries.retain(|e| {
            let same = e.variant == variant;
            if same {
                freed += e.tile.body.len() + e.variant.len();
            }
            !same
        });
        entries.push(Entry {
            variant,
            reports,
            tile: body,
            used,
        });
        inner.bytes = inner.bytes + size - freed;
        if inner.bytes > self.budget_bytes {
            evict(&mut inner, self.budget_bytes / 4 * 3);
        }
    }

    /// Drops the report-bearing variants of every tile that may show a
    /// report at `p` (see the module doc).
    pub fn invalidate_report_at(&self, settings: &TileSettings, p: LonLat) {
        let mut inner = self.lock();
        if inner.tiles.is_empty() {
            return;
        }
        for tile in tiles_showing(settings, p) {
            let Some(entries) = inner.tiles.get_mut(&tile) else {
                continue;
            };
            let mut freed = 0;
            entries.retain(|e| {
                if e.reports {
                    freed += e.tile.body.len() + e.variant.len();
                }
                !e.reports
            });
            if entries.is_empty() {
                inner.tiles.remove(&tile);
            }
            inner.bytes -= freed;
        }
    }

    /// Drops the report-bearing variants of every tile (the report index
    /// was rebuilt whole).
    pub fn invalidate_all_reports(&self) {
        let mut inner = self.lock();
        let mut freed = 0;
        inner.tiles.retain(|_, entries| {
            entries.retain(|e| {
                if e.reports {
                    freed += e.tile.body.len() + e.variant.len();
                }
                !e.reports
            });
            !entries.is_empty()
        });
        inner.bytes -= freed;
    }

    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            tiles: inner.tiles.values().map(Vec::len).sum(),
            bytes: inner.bytes,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

/// Drops least recently used entries until at most `target` bytes remain.
fn evict(inner: &mut Inner, target: usize) {
    // The age below which entries go, oldest first, until under target.
    let mut sizes: Vec<(u64, usize)> = inner
        .tiles
        .values()
        .flatten()
        .map(|e| (e.used, e.tile.body.len() + e.variant.len()))
        .collect();
    sizes.sort_unstable();
    let mut bytes = inner.bytes;
    let mut cutoff = 0;
    for (used, size) in sizes {
        if bytes <= target {
            break;
        }
        bytes -= size;
        cutoff = used;
    }
    let mut freed = 0;
    inner.tiles.retain(|_, entries| {
        entries.retain(|e| {
            let old = e.used <= cutoff;
            if old {
                freed += e.tile.body.len() + e.variant.len();
            }
            !old
        });
        !entries.is_empty()
    });
    inner.bytes -= freed;
}

/// Every served tile that may show a report at `p`: as a point (its
/// buffered bounds contain `p`) or through a hexagon holding `p` (a
/// hexagon's centre is within one cell reach of `p`, and a tile shows the
/// hexagons whose centres are within one reach of its buffered bounds: so
/// the tiles whose buffered bounds come within two reaches of `p`). Point
/// zooms count the hexagons of a too-full tile too
/// ([`DENSE_TILE_HEX_RESOLUTION`]).
#[must_use]
pub fn tiles_showing(settings: &TileSettings, p: LonLat) -> Vec<TileId> {
    let mut out = Vec::new();
    for z in settings.min_zoom..=settings.max_zoom {
        let res = if settings.points_at(z) {
            DENSE_TILE_HEX_RESOLUTION
        } else {
            settings.hex_resolution(z)
        };
        let (dlon, dlat) = cell_reach_deg(res, p.lat());
        let n = f64::from(1_u32 << z);
        let buffer = f64::from(BUFFER) / f64::from(EXTENT);
        let fx = |lon: f64| (lon + 180.0) / 360.0 * n;
        let fy = |lat: f64| {
            let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
            (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n
        };
        let last = n - 1.0;
        let span = |a: f64, b: f64| {
            let lo = (a - buffer).floor().clamp(0.0, last);
            let hi = (b + buffer).floor().clamp(0.0, last);
            (lo as u32, hi as u32)
        };
        let (x0, x1) = span(fx(p.lon() - 2.0 * dlon), fx(p.lon() + 2.0 * dlon));
        // y grows southwards.
        let (y0, y1) = span(fy(p.lat() + 2.0 * dlat), fy(p.lat() - 2.0 * dlat));
        for x in x0..=x1 {
            for y in y0..=y1 {
                if let Ok(t) = TileId::new(z, x, y) {
                    out.push(t);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spatial::h3_cell;
    use crate::spatial::hexagons::{candidate_box, cell_center, parent_cell};

    fn tile(body: &[u8]) -> CachedTile {
        CachedTile {
            expires_min: None,
            body: body.into(),
            etag: "e".into(),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Every tile that can show a report at `p` (as a point in its
        /// buffer, or through the hexagon holding it) is invalidated.
        #[test]
        fn the_invalidated_tiles_include_every_tile_that_can_show_a_report(
            lon in 2.22_f64..2.47, lat in 48.81_f64..48.91,
        ) {
            let settings = TileSettings::default();
            let p = LonLat::new(lon, lat).unwrap();
            let showing: std::collections::HashSet<TileId> =
                tiles_showing(&settings, p).into_iter().collect();
            for z in settings.min_zoom..=settings.max_zoom {
                let home = TileId::containing(p, z);
                let res = settings.hex_resolution(z);
                let centre = parent_cell(h3_cell(p), res).and_then(cell_center).unwrap();
                for dx in -3_i64..=3 {
                    for dy in -3_i64..=3 {
                        let (Ok(x), Ok(y)) = (
                            u32::try_from(i64::from(home.x) + dx),
                            u32::try_from(i64::from(home.y) + dy),
                        ) else {
                            continue;
                        };
                        let Ok(t) = TileId::new(z, x, y) else { continue };
                        let buffered = t.buffered_bounds(BUFFER);
                        let shows = if settings.points_at(z) {
                            buffered.contains(p)
                        } else {
                            candidate_box(&buffered, res).contains_xy(centre[0], centre[1])
                        };
                        if shows {
                            proptest::prop_assert!(showing.contains(&t), "{t} shows {p} but is kept");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_commit_drops_report_tiles_around_it_and_keeps_the_others() {
        let cache = TileCache::new(1 << 20);
        let settings = TileSettings::default();
        let p = LonLat::new(2.35, 48.85).unwrap();
        let near = TileId::containing(p, 16);
        let far = TileId::containing(LonLat::new(2.25, 48.89).unwrap(), 16);
        cache.put(near, "reports".into(), true, tile(b"a"));
        cache.put(near, "districts".into(), false, tile(b"b"));
        cache.put(far, "reports".into(), true, tile(b"c"));
        cache.invalidate_report_at(&settings, p);
        assert_eq!(cache.get(near, "reports"), None);
        assert_eq!(cache.get(near, "districts"), Some(tile(b"b")));
        assert_eq!(cache.get(far, "reports"), Some(tile(b"c")));
        assert_eq!(cache.stats().bytes, 2 + "districts".len() + "reports".len());
    }

    #[test]
    fn the_least_recently_used_tiles_go_first_when_the_budget_is_exceeded() {
        let cache = TileCache::new(4_000);
        let t = |x| TileId::new(16, x, 0).unwrap();
        for x in 0..10 {
            cache.put(t(x), "v".into(), true, tile(&[0; 300]));
        }
        // Touch the oldest: it is now the most recent.
        assert!(cache.get(t(0), "v").is_some());
        for x in 10..14 {
            cache.put(t(x), "v".into(), true, tile(&[0; 300]));
        }
        let stats = cache.stats();
        assert!(stats.bytes <= 4_000, "{stats:?}");
        assert!(cache.get(t(0), "v").is_some(), "recently used survives");
        assert!(
            cache.get(t(1), "v").is_none(),
            "least recently used is gone"
        );
        assert!(cache.get(t(13), "v").is_some());
    }
}
