//! k-anonymity of published counts.
//!
//! A published count must come from at least `k` distinct reporters, or be
//! zero. A count below that is *suppressed* (published as `null`), and a
//! suppressed value must not be recoverable by subtraction from what is
//! published beside it: for every published total (a district's total, a
//! category's total over the districts, the grand total), the suppressed
//! cells it covers must together come from zero or at least `k` reporters.
//! When they do not, the smallest published cell of that total is suppressed
//! too ("complementary suppression"), until every total holds.
//!
//! Distinct reporters are counted with [`Reporters`], a set capped at `k`:
//! it answers `min(distinct, k)` exactly, also for unions (if either side is
//! full the union has at least `k`; otherwise both are exact).

/// The distinct reporters of a cell, up to `k` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reporters(Vec<u64>);

impl Reporters {
    /// Adds a reporter; keeps at most `k`.
    #[inline]
    pub fn add(&mut self, reporter: u64, k: usize) {
        if self.0.len() < k && !self.0.contains(&reporter) {
            self.0.push(reporter);
        }
    }

    /// `min(distinct reporters, k)`.
    #[must_use]
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// Adds every reporter of `other` (capped at `k`).
    pub fn merge(&mut self, other: &Reporters, k: usize) {
        for r in &other.0 {
            if self.0.len() >= k {
                break;
            }
            self.add(*r, k);
        }
    }
}

/// One cell of a table to protect: its count and its reporters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub count: u64,
    pub reporters: Reporters,
}

impl Cell {
    #[inline]
    pub fn add(&mut self, reporter: u64, k: usize) {
        self.count += 1;
        self.reporters.add(reporter, k);
    }

    pub fn merge(&mut self, other: &Cell, k: usize) {
        self.count += other.count;
        self.reporters.merge(&other.reporters, k);
    }

    /// Whether it may be published on its own.
    #[must_use]
    pub fn publishable(&self, k: usize) -> bool {
        self.count == 0 || self.reporters.count() >= k
    }
}

/// Which cells of a list to suppress so that the list's total (published)
/// reveals none of them: primary suppression of each cell below `k`, then,
/// if the suppressed ones together come from fewer than `k` reporters, the
/// smallest published non-zero cells too. `already` marks cells suppressed
/// for another reason (they count as suppressed). Returns the mask.
#[must_use]
pub fn suppress_list(cells: &[&Cell], already: &[bool], k: usize) -> Vec<bool> {
    let mut hidden: Vec<bool> = cells
        .iter()
        .zip(already)
        .map(|(c, a)| *a || !c.publishable(k))
        .collect();
    complete_line(cells, &mut hidden, k);
    hidden
}

/// Complementary suppression within one line (a set of cells whose total is
/// published); returns whether it hid more.
fn complete_line(cells: &[&Cell], hidden: &mut [bool], k: usize) -> bool {
    let mut changed = false;
    loop {
        let mut union = Reporters::default();
        let mut any = false;
        for (c, h) in cells.iter().zip(hidden.iter()) {
            if *h && c.count > 0 {
                any = true;
                union.merge(&c.reporters, k);
            }
        }
        if !any || union.count() >= k {
            return changed;
        }
        // Hide the smallest published non-zero cell (ties: the first).
        let next = cells
            .iter()
            .enumerate()
            .filter(|(i, c)| !hidden[*i] && c.count > 0)
            .min_by_key(|(i, c)| (c.count, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => {
                hidden[i] = true;
                changed = true;
            }
            // Nothing left to hide: the suppressed cells of this line are
            // all its non-zero cells, and then the line's total is itself
            // below `k`; the caller hides that total.
            None => return changed,
        }
    }
}

/// A table of cells (`rows × cols`, row-major) with published row totals,
/// column totals and grand total. `row_hidden[r]` marks rows whose total is
/// itself suppressed: all their cells are hidden and their total does not
/// constrain. Returns the mask of hidden cells.
#[must_use]
pub fn suppress_table(cells: &[Cell], cols: usize, row_hidden: &[bool], k: usize) -> Vec<bool> {
    let rows = row_hidden.len();
    debug_assert_eq!(cells.len(), rows * cols);
    let mut hidden: Vec<bool> = (0..rows * cols)
        .map(|i| row_hidden[i / cols] || !cells[i].publishable(k))
        .collect();
    loop {
        let mut changed = false;
        for r in (0..rows).filter(|r| !row_hidden[*r]) {
            let line: Vec<&Cell> = cells[r * cols..(r + 1) * cols].iter().collect();
            changed |= complete_line(&line, &mut hidden[r * cols..(r + 1) * cols], k);
        }
        for c in 0..cols {
            let line: Vec<&Cell> = (0..rows).map(|r| &cells[r * cols + c]).collect();
            let mut col_hidden: Vec<bool> = (0..rows).map(|r| hidden[r * cols + c]).collect();
            if complete_line(&line, &mut col_hidden, k) {
                changed = true;
                for (r, h) in col_hidden.into_iter().enumerate() {
                    hidden[r * cols + c] = h;
                }
            }
        }
        if !changed {
            return hidden;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cell(reporters: &[u64]) -> Cell {
        let mut c = Cell::default();
        for r in reporters {
            c.add(*r, 5);
        }
        c
    }

    #[test]
    fn a_capped_set_counts_distinct_reporters_up_to_k() {
        let c = cell(&[1, 1, 2, 3]);
        assert_eq!((c.count, c.reporters.count()), (4, 3));
        let full = cell(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(full.reporters.count(), 5);
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let a = cell(&[1, 2]);
        let b = cell(&[3, 4, 5, 6, 7, 8]);
        let c = cell(&[9, 10, 11, 12, 13]);
        let mask = suppress_list(&[&a, &b, &c], &[false; 3], 5);
        assert_eq!(mask, vec![true, false, true]);
    }

    fn reporters_strategy() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(0_u64..12, 0..9)
    }

    proptest! {
        /// Every published cell has k reporters or is zero, and in every
        /// published line (row, column) the hidden cells together come from
        /// zero or at least k reporters, so no total minus the published
        /// cells gives away fewer than k.
        #[test]
        fn no_published_number_or_difference_singles_out_fewer_than_k(
            rows in 1_usize..6,
            cols in 1_usize..6,
            k in 2_usize..6,
            data in prop::collection::vec(reporters_strategy(), 36),
        ) {
            let cells: Vec<Cell> = (0..rows * cols)
                .map(|i| {
                    let mut c = Cell::default();
                    for r in &data[i] {
                        c.add(*r + (i as u64 % 3) * 100, k);
                    }
                    c
                })
                .collect();
            let row_cells: Vec<Cell> = (0..rows)
                .map(|r| {
                    let mut t = Cell::default();
                    for c in &cells[r * cols..(r + 1) * cols] {
                        t.merge(c, k);
                    }
                    t
                })
                .collect();
            let row_refs: Vec<&Cell> = row_cells.iter().collect();
            let row_hidden = suppress_list(&row_refs, &vec![false; rows], k);
            let hidden = suppress_table(&cells, cols, &row_hidden, k);
            for (i, c) in cells.iter().enumerate() {
                prop_assert!(hidden[i] || c.publishable(k));
            }
            let check = |idx: Vec<usize>| {
                let mut u = Reporters::default();
                let mut any = false;
                for i in idx {
                    if hidden[i] && cells[i].count > 0 {
                        any = true;
                        u.merge(&cells[i].reporters, k);
                    }
                }
                !any || u.count() >= k
            };
            for r in (0..rows).filter(|r| !row_hidden[*r]) {
                prop_assert!(check((r * cols..(r + 1) * cols).collect()));
            }
            // A column total below k is itself suppressed (it is a cell of
            // the margin row); the others constrain their column.
            for c in 0..cols {
                let mut total = Cell::default();
                for r in 0..rows {
                    total.merge(&cells[r * cols + c], k);
                }
                prop_assert!(!total.publishable(k) || check((0..rows).map(|r| r * cols + c).collect()));
            }
            // Row totals against the grand total (when it is published).
            let mut grand = Cell::default();
            for t in &row_cells {
                grand.merge(t, k);
            }
            let mut u = Reporters::default();
            let mut any = false;
            for (r, t) in row_cells.iter().enumerate() {
                if row_hidden[r] && t.count > 0 {
                    any = true;
                    u.merge(&t.reporters, k);
                }
            }
            prop_assert!(!grand.publishable(k) || !any || u.count() >= k);
        }
    }
}
