//! Participatory-budget projects in memory (about 1,300 in Paris: a vector and
//! an R-tree of the located ones).

use rstar::{AABB, RTree, primitives::GeomWithData};

use crate::model::{Envelope, Layer, Project};

/// Filters of the project list. Every `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub bbox: Option<Envelope>,
    pub district: Option<(Layer, u32)>,
    pub edition: Option<i32>,
    /// The city's own "Projet en Quartier populaire" flag.
    pub working_class_flag: Option<bool>,
    /// Progress status as published (e.g. `FIN`).
    pub progress: Option<String>,
}

impl ProjectFilter {
    fn matches(&self, p: &Project) -> bool {
        self.edition.is_none_or(|e| p.edition == e)
            && self
                .working_class_flag
                .is_none_or(|f| p.working_class_flag == f)
            && self
                .progress
                .as_ref()
                .is_none_or(|s| p.progress.as_deref() == Some(s.as_str()))
            && self
                .district
                .is_none_or(|(layer, d)| p.districts.get(layer) == Some(d))
            && self
                .bbox
                .is_none_or(|b| p.location.is_some_and(|l| b.contains(l)))
    }
}

/// Projects sorted by id, with an R-tree over those that have a location.
#[derive(Debug, Default)]
pub struct ProjectIndex {
    projects: Vec<Project>,
    tree: RTree<GeomWithData<[f64; 2], usize>>,
}

impl ProjectIndex {
    #[must_use]
    pub fn new(mut projects: Vec<Project>) -> Self {
        projects.sort_by_key(|p| p.id);
        projects.dedup_by_key(|p| p.id);
        let points = projects
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.location.map(|l| GeomWithData::new(l.to_array(), i)))
            .collect();
        Self {
            projects,
            tree: RTree::bulk_load(points),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.projects.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }

    #[must_use]
    pub fn get(&self, id: i64) -> Option<&Project> {
        self.projects
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.projects[i])
    }

    #[must_use]
    pub fn all(&self) -> &[Project] {
        &self.projects
    }

    /// Projects matching `filter`, by ascending id, starting strictly after
    /// `after`; returns the page, the total number of matches, and whether
    /// more follow the page.
    #[must_use]
    pub fn page(
        &self,
        filter: &ProjectFilter,
        after: Option<i64>,
        limit: usize,
    ) -> (Vec<&Project>, usize, bool) {
        let matching: Vec<&Project> = match filter.bbox {
            Some(b) => {
                let env = AABB::from_corners([b.min_lon, b.min_lat], [b.max_lon, b.max_lat]);
                let mut v: Vec<usize> =
                    self.tree.locate_in_envelope(&env).map(|g| g.data).collect();
                v.sort_unstable();
                v.into_iter()
                    .map(|i| &self.projects[i])
                    .filter(|p| filter.matches(p))
                    .collect()
            }
            None => self.projects.iter().filter(|p| filter.matches(p)).collect(),
        };
        let total = matching.len();
        let start = after.map_or(0, |a| matching.partition_point(|p| p.id <= a));
        let more = total - start > limit;
        (
            matching.into_iter().skip(start).take(limit).collect(),
            total,
            more,
        )
    }
}
