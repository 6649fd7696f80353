//! Report counts per H3 hexagon, with k-anonymous roll-up to parents.
//!
//! Counting: each report's cell at [`CELL_RES`] is an ordinal kept in the
//! fact table, so a query adds into an array (no hashing per report), then
//! the few thousand cells are mapped to their parents at the asked
//! resolution.
//!
//! Protection (with `k`): a cell below `k` reporters is not published on
//! its own; the hidden cells under a parent are published together as that
//! parent's *remainder* once they reach `k` (the "roll-up"), and go on up
//! otherwise. At every node of the H3 hierarchy, up to resolution 0, the
//! hidden reports under it come from zero or at least `k` reporters: if not,
//! the smallest published cell under it is hidden too. So the count of any
//! coarser cell (published by a query at that resolution) minus what is
//! published under it never leaves fewer than `k` reporters. Decisions are
//! taken over every matching report, then the cells are cut to the asked
//! area, so that two areas cannot be compared to recover a hidden cell.

use std::collections::HashMap;

use super::facts::{CELL_RES, Facts, kind_index};
use super::kanon::Cell;
use super::query::{Compiled, Filter};
use crate::spatial::hexagons::parent_cell;

/// One published hexagon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hexagon {
    pub cell: u64,
    pub res: u8,
    pub reports: u64,
    /// The reports of this cell's hidden children, rolled up (the cell's
    /// other reports are in published children).
    pub remainder: bool,
}

struct Item {
    hex: Hexagon,
    cell: Cell,
    hidden: bool,
}

#[derive(Default)]
struct Node {
    published: Vec<usize>,
    rest: Cell,
}

/// Counts per cell at `res` (0..=[`CELL_RES`]) of the reports matching
/// `filter`, protected with `k` when given. Cells come sorted by
/// (resolution, cell).
#[must_use]
pub fn hexagons(facts: &Facts, filter: &Filter, res: u8, k: Option<usize>) -> Vec<Hexagon> {
    let res = res.min(CELL_RES);
    let cap = k.unwrap_or(0);
    let fine = tallied(facts, filter, cap).unwrap_or_else(|| scanned(facts, filter, cap));
    let mut at_res: HashMap<u64, Cell> = HashMap::new();
    for (o, c) in fine.iter().enumerate() {
        if c.count == 0 {
            continue;
        }
        let Some(p) = parent_cell(facts.cells[o], res) else {
            continue;
        };
        at_res.entry(p).or_default().merge(c, cap);
    }
    let Some(k) = k else {
        let mut out: Vec<Hexagon> = at_res
            .into_iter()
            .map(|(cell, c)| Hexagon {
                cell,
                res,
                reports: c.count,
                remainder: false,
            })
            .collect();
        out.sort_unstable_by_key(|h| h.cell);
        return out;
    };
    let mut items: Vec<Item> = Vec::new();
    let mut level: HashMap<u64, Node> = HashMap::with_capacity(at_res.len());
    for (cell, c) in at_res {
        let mut node = Node::default();
        if c.publishable(k) {
            node.published.push(items.len());
            items.push(Item {
                hex: Hexagon {
                    cell,
                    res,
                    reports: c.count,
                    remainder: false,
                },
                cell: c,
                hidden: false,
            });
        } else {
            node.rest = c;
        }
        level.insert(cell, node);
    }
    for parent_res in (0..res).rev() {
        let mut parents: HashMap<u64, Node> = HashMap::new();
        for (cell, node) in level {
            let Some(p) = parent_cell(cell, parent_res) else {
                continue;
            };
            let e = parents.entry(p).or_default();
            e.published.extend(node.published);
            e.rest.merge(&node.rest, k);
        }
        for (p, node) in &mut parents {
            settle(*p, parent_res, node, &mut items, k);
        }
        level = parents;
    }
    let mut out: Vec<Hexagon> = items
        .into_iter()
        .filter(|i| !i.hidden)
        .map(|i| i.hex)
        .collect();
    out.sort_unstable_by_key(|h| (std::cmp::Reverse(h.res), h.cell));
    out
}

/// Per cell ordinal, the reports matching `filter`, from the rows.
fn scanned(facts: &Facts, filter: &Filter, cap: usize) -> Vec<Cell> {
    let f = Compiled::new(facts, filter);
    let mut fine: Vec<Cell> = vec![Cell::default(); facts.cells.len()];
    f.scan(facts, |i| {
        if let Some(c) = fine.get_mut(facts.cell[i] as usize) {
            c.add(facts.reporter[i], cap);
        }
    });
    fine
}

/// [`scanned`] from the facts' running tally, when `filter` asks for a kind
/// at most (the tally has no other dimension).
fn tallied(facts: &Facts, filter: &Filter, cap: usize) -> Option<Vec<Cell>> {
    let only_kind = Filter {
        kind: filter.kind,
        ..Filter::default()
    };
    if *filter != only_kind {
        return None;
    }
    let tally = facts.hex_tally(cap)?;
    let mut fine: Vec<Cell> = vec![Cell::default(); facts.cells.len()];
    for (c, kinds) in fine.iter_mut().zip(&tally.cells) {
        match filter.kind {
            Some(kind) => c.merge(&kinds[kind_index(kind)], cap),
            None => {
                c.merge(&kinds[0], cap);
                c.merge(&kinds[1], cap);
            }
        }
    }
    Some(fine)
}

/// Makes the hidden reports under `node` come from zero or `k`+ reporters,
/// then publishes them as `cell`'s remainder when there are any.
fn settle(cell: u64, res: u8, node: &mut Node, items: &mut Vec<Item>, k: usize) {
    while node.rest.count > 0 && node.rest.reporters.count() < k && !node.published.is_empty() {
        let Some((at, _)) = node
            .published
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| (items[**i].hex.reports, items[**i].hex.cell))
        else {
            break;
        };
        let idx = node.published.swap_remove(at);
        items[idx].hidden = true;
        let c = items[idx].cell.clone();
        node.rest.merge(&c, k);
    }
    if node.rest.count > 0 && node.rest.reporters.count() >= k {
        node.published.push(items.len());
        items.push(Item {
            hex: Hexagon {
                cell,
                res,
                reports: node.rest.count,
                remainder: true,
            },
            cell: std::mem::take(&mut node.rest),
            hidden: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CategoryId, Channel, Districts, Kind, Status};
    use crate::stats::{ANONYMOUS, Fact};
    use rand::{Rng, SeedableRng};

    fn fact(rng: &mut impl Rng, cells: &[u64]) -> Fact {
        Fact {
            created_ms: rng.random_range(1_600_000_000_000_i64..1_700_000_000_000),
            kind: Kind::ALL[rng.random_range(0..Kind::ALL.len())],
            category: CategoryId(rng.random_range(0..4)),
            channel: Channel::Web,
            status: Status::New,
            districts: Districts::default(),
            h3: cells[rng.random_range(0..cells.len())],
            reporter: rng.random_range(0..3),
            first_response_ms: None,
            closed_ms: None,
            campaign: None,
            supports: 0,
        }
    }

    /// (count, reporters seen up to the cap) of each cell ordinal.
    fn shape(cells: &[Cell]) -> Vec<(u64, usize)> {
        cells
            .iter()
            .map(|c| (c.count, c.reporters.count()))
            .collect()
    }

    #[test]
    fn the_running_hexagon_tally_equals_a_scan_through_inserts_replacements_and_erasures() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        // Cells at the index resolution (12) under a few res-10 parents.
        let root = h3o::LatLng::new(48.8566, 2.3522)
            .unwrap()
            .to_cell(h3o::Resolution::Twelve);
        let cells: Vec<u64> = root
            .grid_disk::<Vec<_>>(30)
            .into_iter()
            .step_by(37)
            .map(u64::from)
            .collect();
        let mut facts = Facts::default();
        let filters = [
            Filter::default(),
            Filter {
                kind: Some(Kind::Anomaly),
                ..Filter::default()
            },
            Filter {
                kind: Some(Kind::Contribution),
                ..Filter::default()
            },
        ];
        for step in 0..1_500_usize {
            let f = fact(&mut rng, &cells);
            match step % 9 {
                // An older report in the middle, a report changed (its
                // status, or rarely its cell, kind or reporter), an erased
                // contact; mostly new reports.
                0 if !facts.is_empty() => facts.insert(rng.random_range(0..facts.len()), &f),
                1 if !facts.is_empty() => facts.replace(rng.random_range(0..facts.len()), &f),
                2 if !facts.is_empty() => {
                    let pos = rng.random_range(0..facts.len());
                    facts.set_reporter(pos, ANONYMOUS | pos as u64);
                }
                _ => facts.insert(facts.len(), &f),
            }
            if step % 13 == 0 {
                for filter in &filters {
                    for cap in [0, 5] {
                        let tally = tallied(&facts, filter, cap).expect("a kind filter at most");
                        assert_eq!(shape(&tally), shape(&scanned(&facts, filter, cap)));
                    }
                }
            }
        }
        // Other filters are not tallied; a larger k than the built tally
        // keeps is not either (the scan answers).
        let by_time = Filter {
            from_s: Some(1_650_000_000),
            ..Filter::default()
        };
        assert!(tallied(&facts, &by_time, 5).is_none());
        assert!(tallied(&facts, &Filter::default(), 5).is_some());
        assert!(tallied(&facts, &Filter::default(), 6).is_none());
        let public = hexagons(&facts, &Filter::default(), 10, Some(6));
        assert!(public.iter().all(|h| h.reports > 0));
    }
}
