//! The fact table: per report, the few fields statistics group and filter
//! on, stored column by column so that a query reads only the columns it
//! needs (a scan of one million reports reads 4 bytes per report and per
//! column used).
//!
//! Rows are kept in the order of the report index's slots (by id): the
//! index inserts and replaces rows at the same positions as its slots, so a
//! row is found by the position of its report.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::kanon::Cell;
use super::tally::{LayerTallies, RowTally};
use crate::model::{CategoryId, Channel, Districts, Kind, Layer, ReportId, Status};

/// "None" in the `u32` columns (a district, a duration).
pub const NONE: u32 = u32::MAX;

/// Pseudonyms of reports filed without a contact have this bit set (and the
/// report id in the others): each counts as a reporter of its own.
pub const ANONYMOUS: u64 = 1 << 63;

/// A report's pseudonymous reporter: the keyed digest of its contact, or,
/// without one, a value of its own.
#[must_use]
pub fn reporter_of(id: ReportId, pseudonym: Option<u64>) -> u64 {
    match pseudonym {
        Some(p) => p & !ANONYMOUS,
        None => ANONYMOUS | (id as u64 & !ANONYMOUS),
    }
}

/// What statistics know about one report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fact {
    /// Filing time, unix milliseconds (UTC).
    pub created_ms: i64,
    pub kind: Kind,
    pub category: CategoryId,
    pub channel: Channel,
    pub status: Status,
    pub districts: Districts,
    /// H3 cell at the index resolution (12).
    pub h3: u64,
    /// See [`reporter_of`].
    pub reporter: u64,
    /// When a city service first acted on it (status, note, duplicate,
    /// after-treatment photo).
    pub first_response_ms: Option<i64>,
    /// When it was closed, if it is.
    pub closed_ms: Option<i64>,
    /// Campaign ordinal ([`Facts::campaign_id`]).
    pub campaign: Option<u16>,
    pub supports: u32,
}

/// Layout of the `flags` column: category in the low 16 bits, then kind
/// (1 bit), channel (2 bits), status (3 bits).
pub(crate) mod flag {
    pub const CATEGORY: u32 = 0xffff;
    pub const KIND_SHIFT: u32 = 16;
    pub const KIND: u32 = 1 << KIND_SHIFT;
    pub const CHANNEL_SHIFT: u32 = 17;
    pub const CHANNEL: u32 = 0b11 << CHANNEL_SHIFT;
    pub const STATUS_SHIFT: u32 = 19;
    pub const STATUS: u32 = 0b111 << STATUS_SHIFT;
}

pub(crate) fn kind_index(k: Kind) -> usize {
    Kind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}
pub(crate) fn channel_index(c: Channel) -> usize {
    Channel::ALL.iter().position(|x| *x == c).unwrap_or(0)
}
pub(crate) fn status_index(s: Status) -> usize {
    Status::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn pack(f: &Fact) -> u32 {
    #[allow(clippy::cast_possible_truncation)]
    let bits = u32::from(f.category.0)
        | (kind_index(f.kind) as u32) << flag::KIND_SHIFT
        | (channel_index(f.channel) as u32) << flag::CHANNEL_SHIFT
        | (status_index(f.status) as u32) << flag::STATUS_SHIFT;
    bits
}

pub(crate) fn unpack_kind(flags: u32) -> usize {
    ((flags & flag::KIND) >> flag::KIND_SHIFT) as usize
}
pub(crate) fn unpack_status(flags: u32) -> usize {
    ((flags & flag::STATUS) >> flag::STATUS_SHIFT) as usize
}
pub(crate) fn unpack_category(flags: u32) -> usize {
    (flags & flag::CATEGORY) as usize
}

/// Whole minutes from `from_ms` to `to_ms` (rounded down, at least 0).
#[must_use]
pub fn minutes_between(from_ms: i64, to_ms: i64) -> u32 {
    u32::try_from((to_ms - from_ms).max(0) / 60_000).unwrap_or(NONE - 1)
}

/// The second (since 1970, rounded down) of a time; 0 before 1970, the
/// last second of 2106 after it.
#[must_use]
pub fn second_of(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1_000).max(0)).unwrap_or(NONE - 1)
}

/// The fact table (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// Filing second since 1970 (UTC; good until 2106).
    pub(crate) created_s: Vec<u32>,
    /// See [`flag`].
    pub(crate) flags: Vec<u32>,
    /// Dense district id per layer, [`NONE`] when in none.
    pub(crate) districts: [Vec<u32>; 5],
    /// Ordinal of the report's H3 cell at [`CELL_RES`] in `cells`.
    pub(crate) cell: Vec<u32>,
    pub(crate) reporter: Vec<u64>,
    /// Minutes from filing to the first response, [`NONE`] without one.
    pub(crate) first_response: Vec<u32>,
    /// Minutes from filing to `done`, [`NONE`] unless done at a known time.
    pub(crate) resolution: Vec<u32>,
    /// Campaign ordinal + 1, 0 for none.
    pub(crate) campaign: Vec<u16>,
    pub(crate) supports: Vec<u32>,
    /// Campaign slugs by ordinal.
    campaigns: Vec<Box<str>>,
    /// The distinct H3 cells at [`CELL_RES`] of the reports, by ordinal.
    pub(crate) cells: Vec<u64>,
    cell_ordinals: HashMap<u64, u32>,
    /// Per layer, built on the first query for one of its districts: the
    /// rows of each district (by dense id), in row order. A one-district
    /// query reads its district's rows instead of the whole district column
    /// (4 bytes per report and per layer asked, paid only for layers
    /// asked). Kept by appends; any other change drops it, to be rebuilt.
    postings: [OnceLock<Vec<Vec<u32>>>; 5],
    /// Per cell ordinal, the reports of each kind and their reporters:
    /// hexagon counts without a filter (or by kind only) read these instead
    /// of the rows. Built on the first such query, kept by every insert,
    /// dropped when a row's cell, kind or reporter changes (rare: a report
    /// moved, an erased contact), to be rebuilt.
    hex_tally: OnceLock<HexTally>,
    /// Per layer, the running tallies by district and month (see
    /// [`super::tally`]): built on the first query that can use them, then
    /// kept by every change of a row.
    tallies: [OnceLock<LayerTallies>; 5],
}

/// See [`Facts::hex_tally`].
#[derive(Debug, Clone)]
pub(crate) struct HexTally {
    /// Reporter sets keep up to this many (a query with a larger k cannot
    /// use the tally).
    pub(crate) cap: usize,
    /// By cell ordinal, then [`Kind::ALL`] order.
    pub(crate) cells: Vec<[Cell; Kind::ALL.len()]>,
}

impl HexTally {
    fn add(&mut self, cell: u32, kind: usize, reporter: u64) {
        let o = cell as usize;
        if self.cells.len() <= o {
            self.cells.resize_with(o + 1, Default::default);
        }
        self.cells[o][kind].add(reporter, self.cap);
    }
}

/// Reporter sets of tallies keep at least this many (the default k).
const TALLY_MIN_CAP: usize = 5;

/// The finest H3 resolution statistics count at (hexagons of about
/// 15,000 m², 66 m edge): finer cells would single out a street corner.
pub const CELL_RES: u8 = 10;

impl Facts {
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        let v32 = || Vec::with_capacity(n);
        Self {
            created_s: v32(),
            flags: v32(),
            districts: [v32(), v32(), v32(), v32(), v32()],
            cell: v32(),
            reporter: Vec::with_capacity(n),
            first_response: v32(),
            resolution: v32(),
            campaign: Vec::with_capacity(n),
            supports: v32(),
            campaigns: Vec::new(),
            cells: Vec::new(),
            cell_ordinals: HashMap::new(),
            postings: Default::default(),
            hex_tally: OnceLock::new(),
            tallies: Default::default(),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.created_s.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.created_s.is_empty()
    }

    /// Reserves room for `n` more rows in every column.
    pub fn reserve_exact(&mut self, n: usize) {
        self.created_s.reserve_exact(n);
        self.flags.reserve_exact(n);
        for d in &mut self.districts {
            d.reserve_exact(n);
        }
        self.cell.reserve_exact(n);
        self.reporter.reserve_exact(n);
        self.first_response.reserve_exact(n);
        self.resolution.reserve_exact(n);
        self.campaign.reserve_exact(n);
        self.supports.reserve_exact(n);
    }

    /// The ordinal of a campaign slug, if any report answers it.
    #[must_use]
    pub fn campaign_id(&self, slug: &str) -> Option<u16> {
        self.campaigns
            .iter()
            .position(|c| &**c == slug)
            .and_then(|i| u16::try_from(i).ok())
    }

    fn campaign_ordinal(&mut self, slug: &str) -> Option<u16> {
        if let Some(i) = self.campaign_id(slug) {
            return Some(i);
        }
        let i = u16::try_from(self.campaigns.len())
            .ok()
            .filter(|i| *i < u16::MAX - 1)?;
        self.campaigns.push(slug.into());
        Some(i)
    }

    /// Inserts a row at `pos` (the position of its report's slot).
    pub fn insert(&mut self, pos: usize, f: &Fact) {
        let (resolution, first_response) = durations(f);
        let cell = self.cell_ordinal(f.h3);
        self.created_s.insert(pos, second_of(f.created_ms));
        self.flags.insert(pos, pack(f));
        for (col, d) in self.districts.iter_mut().zip(f.districts.0) {
            col.insert(pos, d.unwrap_or(NONE));
        }
        self.cell.insert(pos, cell);
        self.reporter.insert(pos, f.reporter);
        self.first_response.insert(pos, first_response);
        self.resolution.insert(pos, resolution);
        self.campaign.insert(pos, f.campaign.map_or(0, |c| c + 1));
        self.supports.insert(pos, f.supports);
        if let Some(t) = self.hex_tally.get_mut() {
            t.add(cell, kind_index(f.kind), f.reporter);
        }
        self.tally_row(pos, true);
        let appended = pos + 1 == self.len();
        for (layer, lists) in self.postings.iter_mut().enumerate() {
            let d = self.districts[layer][pos];
            match lists.get_mut() {
                Some(lists) if appended => push_row(lists, d, pos),
                Some(_) => *lists = OnceLock::new(),
                None => {}
            }
        }
    }

    /// Replaces the row at `pos`, keeping its campaign and supports (they
    /// are set by [`Self::set_campaign`] and [`Self::set_supports`]).
    pub fn replace(&mut self, pos: usize, f: &Fact) {
        let (resolution, first_response) = durations(f);
        let cell = self.cell_ordinal(f.h3);
        let flags = pack(f);
        self.tally_row(pos, false);
        if self.cell[pos] != cell
            || unpack_kind(self.flags[pos]) != unpack_kind(flags)
            || self.reporter[pos] != f.reporter
        {
            self.hex_tally = OnceLock::new();
        }
        self.created_s[pos] = second_of(f.created_ms);
        self.flags[pos] = flags;
        for ((col, d), lists) in self
            .districts
            .iter_mut()
            .zip(f.districts.0)
            .zip(&mut self.postings)
        {
            let d = d.unwrap_or(NONE);
            if col[pos] != d {
                col[pos] = d;
                *lists = OnceLock::new();
            }
        }
        self.cell[pos] = cell;
        self.reporter[pos] = f.reporter;
        self.first_response[pos] = first_response;
        self.resolution[pos] = resolution;
        self.tally_row(pos, true);
        self.rebuild_stale_tallies();
    }

    /// Adds the row at `pos` to the built tallies, or removes it from them.
    fn tally_row(&mut self, pos: usize, add: bool) {
        self.each_tally(pos, |t, row| {
            if add {
                t.add(row)
            } else {
                t.remove(row);
                true
            }
        });
    }

    /// Calls `f` with each built layer's tallies and the row at `pos` in
    /// that layer (read once); drops a layer's tallies when `f` says
    /// `false` (to be rebuilt).
    fn each_tally(&mut self, pos: usize, mut f: impl FnMut(&mut LayerTallies, &RowTally) -> bool) {
        if self.tallies.iter().all(|t| t.get().is_none()) {
            return;
        }
        let row = RowTally::of_row(self, pos);
        let mut tallies = std::mem::take(&mut self.tallies);
        for (layer, built) in tallies.iter_mut().enumerate() {
            let Some(t) = built.get_mut() else { continue };
            let row = row.in_district(self.districts[layer][pos]);
            if !f(t, &row) {
                *built = OnceLock::new();
            }
        }
        self.tallies = tallies;
    }

    /// Rebuilds, from the rows as they now are, the reporter sets of
    /// tallies that a change left unable to answer (see [`super::tally`]).
    fn rebuild_stale_tallies(&mut self) {
        if !self
            .tallies
            .iter()
            .any(|t| t.get().is_some_and(LayerTallies::has_stale))
        {
            return;
        }
        let mut tallies = std::mem::take(&mut self.tallies);
        for (layer, built) in tallies.iter_mut().enumerate() {
            if let Some(t) = built.get_mut() {
                t.rebuild_stale(self, layer);
            }
        }
        self.tallies = tallies;
    }

    /// The running tallies of a layer with reporter sets answering for `k`
    /// (built on the first call, for at least [`TALLY_MIN_CAP`]); `None`
    /// for a layer that is not tallied or when the built sets keep fewer.
    pub(crate) fn tallies(&self, layer: usize, k: usize) -> Option<&LayerTallies> {
        if !LayerTallies::tallied(layer) {
            return None;
        }
        let t = self
            .tallies
            .get(layer)?
            .get_or_init(|| LayerTallies::build(self, layer, k.max(TALLY_MIN_CAP)));
        (t.cap() >= k).then_some(t)
    }

    /// Bytes held by the running tallies built so far, by layer ([`Layer`]
    /// order; 0 for a layer not built): what statistics keep beside the
    /// rows (for benchmarks and capacity planning).
    #[must_use]
    pub fn tally_heap_bytes(&self) -> [usize; 5] {
        let mut out = [0; 5];
        for (o, t) in out.iter_mut().zip(&self.tallies) {
            *o = t.get().map_or(0, LayerTallies::heap_bytes);
        }
        out
    }

    pub fn set_campaign(&mut self, pos: usize, slug: &str) {
        if let Some(c) = self.campaign_ordinal(slug) {
            self.campaign[pos] = c + 1;
        }
    }

    /// Sets the reporter of the row at `pos` (see [`reporter_of`]).
    pub fn set_reporter(&mut self, pos: usize, reporter: u64) {
        if self.reporter[pos] == reporter {
            return;
        }
        self.hex_tally = OnceLock::new();
        self.tally_row(pos, false);
        self.reporter[pos] = reporter;
        self.tally_row(pos, true);
        self.rebuild_stale_tallies();
    }

    /// The hexagon tally with reporter sets of at least `cap` (built on the
    /// first call; `None` when the one built keeps fewer).
    pub(crate) fn hex_tally(&self, cap: usize) -> Option<&HexTally> {
        let t = self.hex_tally.get_or_init(|| {
            let mut t = HexTally {
                cap: cap.max(TALLY_MIN_CAP),
                cells: vec![Default::default(); self.cells.len()],
            };
            for i in 0..self.len() {
                t.add(self.cell[i], unpack_kind(self.flags[i]), self.reporter[i]);
            }
            t
        });
        (t.cap >= cap).then_some(t)
    }

    pub fn set_supports(&mut self, pos: usize, n: u32) {
        let old = self.supports[pos];
        self.each_tally(pos, |t, row| {
            t.set_supports(row, old, n);
            true
        });
        self.supports[pos] = n;
    }

    /// The reporter pseudonym of the row at `pos` ([`ANONYMOUS`] for a
    /// row it does not have).
    #[must_use]
    pub fn reporter(&self, pos: usize) -> u64 {
        self.reporter.get(pos).copied().unwrap_or(ANONYMOUS)
    }

    /// The first response time of the row at `pos` of a report filed at
    /// `created_ms`, to the minute (as it was counted).
    #[must_use]
    pub fn first_response_ms(&self, pos: usize, created_ms: i64) -> Option<i64> {
        let m = self.first_response.get(pos).copied().unwrap_or(NONE);
        (m != NONE).then(|| created_ms + i64::from(m) * 60_000)
    }

    fn cell_ordinal(&mut self, h3: u64) -> u32 {
        let cell = crate::spatial::hexagons::parent_cell(h3, CELL_RES).unwrap_or(0);
        if let Some(o) = self.cell_ordinals.get(&cell) {
            return *o;
        }
        let o = u32::try_from(self.cells.len()).unwrap_or(NONE);
        self.cells.push(cell);
        self.cell_ordinals.insert(cell, o);
        o
    }

    /// The rows of district `d` of layer `layer`, in row order.
    pub(crate) fn district_rows(&self, layer: usize, d: u32) -> &[u32] {
        let lists = self.postings[layer].get_or_init(|| {
            let mut lists: Vec<Vec<u32>> = Vec::new();
            for (i, x) in self.districts[layer].iter().enumerate() {
                push_row(&mut lists, *x, i);
            }
            lists
        });
        lists.get(d as usize).map_or(&[], Vec::as_slice)
    }

    /// The district column of a layer.
    #[must_use]
    pub fn district_column(&self, layer: Layer) -> &[u32] {
        &self.districts[layer.index()]
    }
}

/// Adds row `pos` to the list of district `d` (none for [`NONE`]).
fn push_row(lists: &mut Vec<Vec<u32>>, d: u32, pos: usize) {
    if d == NONE {
        return;
    }
    let d = d as usize;
    if lists.len() <= d {
        lists.resize_with(d + 1, Vec::new);
    }
    lists[d].push(u32::try_from(pos).unwrap_or(NONE));
}

/// (minutes to resolution, minutes to first response), [`NONE`] when unknown.
fn durations(f: &Fact) -> (u32, u32) {
    let resolution = match (f.status, f.closed_ms) {
        (Status::Done, Some(c)) => minutes_between(f.created_ms, c),
        _ => NONE,
    };
    let first = f
        .first_response_ms
        .map_or(NONE, |t| minutes_between(f.created_ms, t));
    (resolution, first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn fact(rng: &mut impl Rng) -> Fact {
        let d = |rng: &mut dyn rand::RngCore| {
            let x: u32 = rng.random_range(0..6);
            (x < 5).then_some(x)
        };
        Fact {
            created_ms: rng.random_range(1_600_000_000_000_i64..1_700_000_000_000),
            kind: Kind::Anomaly,
            category: CategoryId(0),
            channel: Channel::Web,
            status: Status::New,
            districts: Districts([d(rng), d(rng), d(rng), d(rng), d(rng)]),
            h3: 0,
            reporter: 0,
            first_response_ms: None,
            closed_ms: None,
            campaign: None,
            supports: 0,
        }
    }

    /// What `district_rows` must answer: a scan of the column.
    fn scanned(facts: &Facts, layer: usize, d: u32) -> Vec<u32> {
        (0..facts.len())
            .filter(|i| facts.districts[layer][*i] == d)
            .map(|i| u32::try_from(i).unwrap_or(NONE))
            .collect()
    }

    #[test]
    fn district_rows_follow_appends_inserts_in_the_middle_and_replaced_rows() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut facts = Facts::default();
        for step in 0..600_usize {
            let f = fact(&mut rng);
            match step % 10 {
                // Mostly appends (new reports), sometimes a row in the
                // middle (an older id) or a row whose districts change.
                0 if !facts.is_empty() => facts.insert(rng.random_range(0..facts.len()), &f),
                1 if !facts.is_empty() => facts.replace(rng.random_range(0..facts.len()), &f),
                _ => facts.insert(facts.len(), &f),
            }
            // Read every few steps, so that some changes meet built lists.
            if step % 7 == 0 {
                for layer in 0..5 {
                    for d in 0..6 {
                        assert_eq!(facts.district_rows(layer, d), scanned(&facts, layer, d));
                    }
                }
            }
        }
        for layer in 0..5 {
            for d in 0..6 {
                assert_eq!(facts.district_rows(layer, d), scanned(&facts, layer, d));
            }
        }
    }
}
