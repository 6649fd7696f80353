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

use super::facts::{CELL_RES, Facts};
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
    let f = Compiled::new(facts, filter);
    let cap = k.unwrap_or(0);
    let mut fine: Vec<Cell> = vec![Cell::default(); facts.cells.len()];
    f.scan(facts, |i| {
        if let Some(c) = fine.get_mut(facts.cell[i] as usize) {
            c.add(facts.reporter[i], cap);
        }
    });
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
