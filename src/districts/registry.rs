//! The registry: layer versions, their districts, lookups and attribution.

use std::collections::HashMap;
use std::ops::Range;

use geo::{BoundingRect, Coord, Intersects, MultiPolygon};
use time::Date;

use super::DistrictError;
use super::locate::{GridStats, VersionIndex};
use crate::model::{DistrictRef, Districts, Layer, LonLat};

/// Longest layer version name or district code accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 64;

/// Identifies a layer version: its position in [`DistrictRegistry::layer_versions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerVersionId(pub u16);

/// What a layer version is: its kind, name, provenance and validity period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMeta {
    pub layer: Layer,
    /// Version name, unique within the layer and URL-safe (`A–Z a–z 0–9 . _ -`),
    /// e.g. `2024`, `2014`, `derived-rp2011`. It is part of every public id.
    pub version: String,
    /// Source and attribution text (publisher, dataset, licence).
    pub source: String,
    /// Whether the perimeters are the authority's own (false for derived layers).
    pub official: bool,
    /// First day of validity, inclusive; `None`: since always.
    pub valid_from: Option<Date>,
    /// First day of no longer being valid, exclusive; `None`: still valid.
    pub valid_to: Option<Date>,
}

impl LayerMeta {
    /// An official version valid at every date; adjust the fields as needed.
    #[must_use]
    pub fn new(layer: Layer, version: &str, source: &str) -> Self {
        LayerMeta {
            layer,
            version: version.to_owned(),
            source: source.to_owned(),
            official: true,
            valid_from: None,
            valid_to: None,
        }
    }

    /// Whether `date` lies in `[valid_from, valid_to)`.
    #[must_use]
    pub fn is_valid_at(&self, date: Date) -> bool {
        self.valid_from.is_none_or(|from| from <= date) && self.valid_to.is_none_or(|to| date < to)
    }
}

/// A loaded layer version: its metadata and the range of its districts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersion {
    pub id: LayerVersionId,
    pub meta: LayerMeta,
    /// Dense ids of its districts, in code order.
    pub districts: Range<u32>,
}

impl LayerVersion {
    /// Number of districts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.districts.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.districts.is_empty()
    }

    /// Whether `date` lies in `[valid_from, valid_to)`.
    #[must_use]
    pub fn is_valid_at(&self, date: Date) -> bool {
        self.meta.is_valid_at(date)
    }
}

/// Census counts of residents aged 15 or more, by socio-professional
/// category (INSEE PCS 2003, 8 groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census15Plus {
    /// Census year (e.g. 2011 for RP 2011).
    pub year: u16,
    /// Residents aged 15 or more (`C11_POP15P`).
    pub total: u64,
    /// Counts for PCS 1..=8, at index 0..=7: 1 farmers, 2 craftsmen,
    /// shopkeepers and business owners, 3 managers and higher intellectual
    /// professions, 4 intermediate professions, 5 employees, 6 manual
    /// workers, 7 retired, 8 other inactive.
    pub by_category: [u64; 8],
}

impl Census15Plus {
    /// Employees and manual workers (PCS 5 + 6) over all residents aged 15+;
    /// `None` when there are none.
    #[must_use]
    pub fn working_class_share(&self) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let share = (self.by_category[4] + self.by_category[5]) as f64 / self.total as f64;
        Some(share)
    }

    /// Sums counts (e.g. when districts are merged); the year of `self` is kept.
    #[must_use]
    pub fn plus(&self, other: &Census15Plus) -> Census15Plus {
        let mut by_category = self.by_category;
        for (a, b) in by_category.iter_mut().zip(other.by_category) {
            *a += b;
        }
        Census15Plus {
            year: self.year,
            total: self.total + other.total,
            by_category,
        }
    }
}

/// INSEE IRIS type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IrisType {
    /// `H`: residential ("habitat"), 1,800 to 5,000 inhabitants.
    Residential,
    /// `A`: business ("activité"), more jobs than residents.
    Business,
    /// `D`: miscellaneous ("divers"): parks, woods, river banks, stations.
    Miscellaneous,
}

/// Statistics attached to a district, where the source has them. Each field
/// says what it counts; none is estimated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// Population municipale (all ages), e.g. INSEE legal population for
    /// arrondissements. IRIS have no such figure here: see `census_15_plus`.
    pub population: Option<u64>,
    /// Year of `population` (the column it came from, e.g. 2023).
    pub population_year: Option<u16>,
    /// Residents aged 15+ by socio-professional category (IRIS, and layers
    /// derived from them, where it is the sum over their IRIS).
    pub census_15_plus: Option<Census15Plus>,
    /// INSEE IRIS type (IRIS layer only).
    pub iris_type: Option<IrisType>,
    /// Codes of the districts this one was derived from (derived layers only).
    pub derived_from: Vec<String>,
}

impl Attributes {
    /// The numeric attributes by name, for display: `population`,
    /// `population_year`, `census_year`, `pop15p`, `pop15p_cs1`…`pop15p_cs8`
    /// (only those present).
    #[must_use]
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        const CS: [&str; 8] = [
            "pop15p_cs1",
            "pop15p_cs2",
            "pop15p_cs3",
            "pop15p_cs4",
            "pop15p_cs5",
            "pop15p_cs6",
            "pop15p_cs7",
            "pop15p_cs8",
        ];
        let mut out = Vec::new();
        if let Some(p) = self.population {
            out.push(("population", p));
        }
        if let Some(y) = self.population_year {
            out.push(("population_year", u64::from(y)));
        }
        if let Some(c) = &self.census_15_plus {
            out.push(("census_year", u64::from(c.year)));
            out.push(("pop15p", c.total));
            out.extend(CS.iter().copied().zip(c.by_category));
        }
        out
    }
}

/// A district to add to the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDistrict {
    /// Code, unique within its layer version and URL-safe (`A–Z a–z 0–9 . _ -`).
    pub code: String,
    pub name: String,
    /// WGS84 lon/lat polygons.
    pub geometry: MultiPolygon<f64>,
    pub attributes: Attributes,
}

/// A district of the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct District {
    /// Dense id: index into the registry, stable for the registry's lifetime.
    pub id: u32,
    /// Stable, URL-safe public id `{layer}:{version}:{code}`.
    pub public_id: String,
    pub code: String,
    pub name: String,
    pub layer: Layer,
    pub layer_version: LayerVersionId,
    /// WGS84 lon/lat polygons.
    pub geometry: MultiPolygon<f64>,
    pub attributes: Attributes,
}

impl District {
    /// The form shown to clients.
    #[must_use]
    pub fn to_ref(&self) -> DistrictRef {
        DistrictRef {
            id: self.public_id.clone(),
            code: self.code.clone(),
            name: self.name.clone(),
        }
    }
}

/// Points flagged by some other source (e.g. the participatory-budget
/// "Projet en Quartier populaire" flag), to compare with a layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlaggedPoint {
    pub at: LonLat,
    /// The date at which to attribute the point (selects the layer version).
    pub date: Date,
    pub flagged: bool,
}

/// Confusion matrix of a boolean flag against membership of a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Flagged and in a district of the layer.
    pub both: u64,
    /// Flagged, but in no district of the layer.
    pub flag_only: u64,
    /// In a district of the layer, but not flagged.
    pub layer_only: u64,
    /// Neither flagged nor in a district.
    pub neither: u64,
}

impl Agreement {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.both + self.flag_only + self.layer_only + self.neither
    }

    /// Share of points on which flag and layer agree; `None` without points.
    #[must_use]
    pub fn agreement_rate(&self) -> Option<f64> {
        let total = self.total();
        #[allow(clippy::cast_precision_loss)]
        (total > 0).then(|| (self.both + self.neither) as f64 / total as f64)
    }

    /// Cohen's kappa: agreement beyond chance (1 perfect, 0 chance level);
    /// `None` without points or when chance agreement is already total.
    #[must_use]
    pub fn kappa(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        let n = self.total() as f64;
        if n == 0.0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let (both, flag_only, layer_only, neither) = (
            self.both as f64,
            self.flag_only as f64,
            self.layer_only as f64,
            self.neither as f64,
        );
        let observed = (both + neither) / n;
        let flag_yes = (both + flag_only) / n;
        let layer_yes = (both + layer_only) / n;
        let expected = flag_yes * layer_yes + (1.0 - flag_yes) * (1.0 - layer_yes);
        (expected < 1.0).then(|| (observed - expected) / (1.0 - expected))
    }
}

/// Districts in layers, each layer in one or more dated versions, with an
/// index that attributes a point to at most one district per layer.
///
/// Districts are only ever appended: a dense id, once given, always names
/// the same district, and no `&mut District` is ever handed out, so the
/// spatial index never goes stale.
#[derive(Debug, Clone, Default)]
pub struct DistrictRegistry {
    versions: Vec<LayerVersion>,
    indexes: Vec<VersionIndex>,
    districts: Vec<District>,
    by_public_id: HashMap<String, u32>,
    /// Per layer, version ids from most to least preferred.
    preference: [Vec<LayerVersionId>; 5],
}

impl DistrictRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer version and its districts. Districts get dense ids in
    /// code order (byte-wise), which is also the order of the boundary rule.
    ///
    /// # Errors
    /// [`DistrictError::InvalidMeta`] when the version name is empty, not
    /// URL-safe, already used by this layer, or the validity period is empty;
    /// [`DistrictError::Feature`] when a district has an empty, too long or
    /// non-URL-safe code, no polygon, an unclosed ring or a ring of fewer than
    /// 4 positions, or a coordinate that is not finite or out of range
    /// (`index` is the district's position in `districts`);
    /// [`DistrictError::DuplicateCode`] when two districts share a code.
    pub fn add_layer(
        &mut self,
        meta: LayerMeta,
        districts: Vec<NewDistrict>,
    ) -> Result<LayerVersionId, DistrictError> {
        check_key(&meta.version).map_err(|reason| DistrictError::InvalidMeta {
            field: "version",
            value: meta.version.chars().take(MAX_KEY_BYTES).collect(),
            reason,
        })?;
        if self
            .versions
            .iter()
            .any(|v| v.meta.layer == meta.layer && v.meta.version == meta.version)
        {
            return Err(DistrictError::InvalidMeta {
                field: "version",
                value: meta.version.clone(),
                reason: "this layer already has a version of that name",
            });
        }
        if let (Some(from), Some(to)) = (meta.valid_from, meta.valid_to)
            && from >= to
        {
            return Err(DistrictError::InvalidMeta {
                field: "valid_to",
                value: to.to_string(),
                reason: "the validity period is empty: valid_to must be after valid_from",
            });
        }
        let id = LayerVersionId(u16::try_from(self.versions.len()).map_err(|_| {
            DistrictError::InvalidMeta {
                field: "version",
                value: meta.version.clone(),
                reason: "too many layer versions",
            }
        })?);

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, d) in districts.iter().enumerate() {
            let feature_error = |value: String, reason: &'static str| DistrictError::Feature {
                layer: meta.layer,
                version: meta.version.clone(),
                index,
                value,
                reason,
            };
            check_key(&d.code)
                .map_err(|reason| feature_error(d.code.chars().take(64).collect(), reason))?;
            check_geometry(&d.geometry).map_err(|(value, reason)| feature_error(value, reason))?;
            if let Some(first) = seen.insert(&d.code, index) {
                return Err(DistrictError::DuplicateCode {
                    layer: meta.layer,
                    version: meta.version.clone(),
                    code: d.code.clone(),
                    first,
                    second: index,
                });
            }
        }
        let first = u32::try_from(self.districts.len()).ok();
        let end = first.and_then(|f| {
            u32::try_from(districts.len())
                .ok()
                .and_then(|n| f.checked_add(n))
        });
        let (Some(first), Some(end)) = (first, end) else {
            return Err(DistrictError::InvalidMeta {
                field: "version",
                value: meta.version.clone(),
                reason: "too many districts",
            });
        };

        let mut districts = districts;
        districts.sort_by(|a, b| a.code.as_bytes().cmp(b.code.as_bytes()));
        let index = VersionIndex::new(districts.iter().map(|d| &d.geometry));
        for (n, d) in (first..end).zip(districts) {
            let public_id = format!("{}:{}:{}", meta.layer.as_str(), meta.version, d.code);
            self.by_public_id.insert(public_id.clone(), n);
            self.districts.push(District {
                id: n,
                public_id,
                code: d.code,
                name: d.name,
                layer: meta.layer,
                layer_version: id,
                geometry: d.geometry,
                attributes: d.attributes,
            });
        }
        let layer = meta.layer;
        self.versions.push(LayerVersion {
            id,
            meta,
            districts: first..end,
        });
        self.indexes.push(index);
        let versions = &self.versions;
        let pref = &mut self.preference[layer.index()];
        pref.push(id);
        // Official first, then the newest start of validity, then the last added.
        pref.sort_by(|a, b| {
            let (ma, mb) = (
                &versions[usize::from(a.0)].meta,
                &versions[usize::from(b.0)].meta,
            );
            (mb.official, mb.valid_from, b.0).cmp(&(ma.official, ma.valid_from, a.0))
        });
        Ok(id)
    }

    /// Number of districts, all layers and versions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.districts.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.districts.is_empty()
    }

    /// The district of a dense id; `None` for an id this registry never gave.
    #[must_use]
    pub fn get(&self, id: u32) -> Option<&District> {
        self.districts.get(id as usize)
    }

    /// The layer version a district belongs to (`None` only for a district
    /// of another registry).
    #[must_use]
    pub fn version_of(&self, district: &District) -> Option<&LayerVersion> {
        self.layer_version(district.layer_version)
    }

    /// The dense id of a public id such as `arrondissement:2021:75104`.
    #[must_use]
    pub fn by_public_id(&self, public_id: &str) -> Option<u32> {
        self.by_public_id.get(public_id).copied()
    }

    /// Every layer version with its metadata, in the order they were added.
    #[must_use]
    pub fn layer_versions(&self) -> &[LayerVersion] {
        &self.versions
    }

    /// A layer version.
    #[must_use]
    pub fn layer_version(&self, id: LayerVersionId) -> Option<&LayerVersion> {
        self.versions.get(usize::from(id.0))
    }

    /// The version of `layer` in force at `date`: among the versions valid
    /// then, the official one, then the one with the newest `valid_from`
    /// (unbounded counts as oldest), then the last added.
    #[must_use]
    pub fn version_at(&self, layer: Layer, date: Date) -> Option<&LayerVersion> {
        self.preference[layer.index()]
            .iter()
            .map(|id| &self.versions[usize::from(id.0)])
            .find(|v| v.is_valid_at(date))
    }

    /// The district of `layer` with `code` in the version in force at `date`.
    #[must_use]
    pub fn by_code(&self, layer: Layer, code: &str, date: Date) -> Option<u32> {
        let version = self.version_at(layer, date)?;
        let slice =
            &self.districts[version.districts.start as usize..version.districts.end as usize];
        let i = slice
            .binary_search_by(|d| d.code.as_bytes().cmp(code.as_bytes()))
            .ok()?;
        Some(slice[i].id)
    }

    /// The dense ids of the districts of `layer`: of the version in force at
    /// `date`, or of every version when `date` is `None`; in code order
    /// within a version.
    pub fn districts(&self, layer: Layer, date: Option<Date>) -> impl Iterator<Item = u32> + '_ {
        let ranges: Vec<Range<u32>> = match date {
            Some(date) => self
                .version_at(layer, date)
                .map(|v| v.districts.clone())
                .into_iter()
                .collect(),
            None => self
                .versions
                .iter()
                .filter(|v| v.meta.layer == layer)
                .map(|v| v.districts.clone())
                .collect(),
        };
        ranges.into_iter().flatten()
    }

    /// The district of each layer that holds `p` at `date`.
    ///
    /// Per layer, the version in force at `date` is chosen first (see
    /// [`Self::version_at`]); then the point goes to the district of that
    /// version whose closed geometry holds it, and when several do (a point
    /// on a shared edge or vertex, or in overlapping polygons) to the one with
    /// the smallest code. `None` when no district of that version holds it.
    ///
    /// ```
    /// use civicmap::districts::{DistrictRegistry, LayerMeta, NewDistrict};
    /// use civicmap::model::{Layer, LonLat};
    /// use geo::polygon;
    ///
    /// let square = |x0: f64, code: &str| NewDistrict {
    ///     code: code.into(),
    ///     name: code.into(),
    ///     geometry: polygon![(x: x0, y: 0.0), (x: x0 + 1.0, y: 0.0), (x: x0 + 1.0, y: 1.0), (x: x0, y: 1.0)].into(),
    ///     attributes: Default::default(),
    /// };
    /// let mut registry = DistrictRegistry::new();
    /// registry.add_layer(LayerMeta::new(Layer::Quartier, "v1", "test"), vec![square(1.0, "B"), square(0.0, "A")]).unwrap();
    /// let day = time::macros::date!(2024 - 06 - 01);
    /// let on_shared_edge = LonLat::new(1.0, 0.5).unwrap();
    /// let id = registry.attribute(on_shared_edge, day).get(Layer::Quartier).unwrap();
    /// assert_eq!(registry.get(id).unwrap().public_id, "quartier:v1:A");
    /// ```
    #[must_use]
    pub fn attribute(&self, p: LonLat, date: Date) -> Districts {
        let c = Coord {
            x: p.lon(),
            y: p.lat(),
        };
        let mut out = Districts::default();
        for layer in Layer::ALL {
            if let Some(v) = self.version_at(layer, date) {
                let index = &self.indexes[usize::from(v.id.0)];
                out.set(
                    layer,
                    index.locate(c).map(|local| v.districts.start + local),
                );
            }
        }
        out
    }

    /// The dense ids of [`Self::attribute`], flattened in layer order.
    #[must_use]
    pub fn containing(&self, p: LonLat, date: Date) -> Vec<u32> {
        self.attribute(p, date).0.into_iter().flatten().collect()
    }

    /// The reference for [`Self::attribute`]: the same rule, computed by
    /// testing every district of each chosen version with geo's
    /// `Intersects`. Linear in the number of vertices; for tests and benches.
    #[must_use]
    pub fn attribute_brute_force(&self, p: LonLat, date: Date) -> Districts {
        let point = geo::Point::new(p.lon(), p.lat());
        let mut out = Districts::default();
        for layer in Layer::ALL {
            if let Some(v) = self.version_at(layer, date) {
                let found = self.districts[v.districts.start as usize..v.districts.end as usize]
                    .iter()
                    .find(|d| d.geometry.intersects(&point))
                    .map(|d| d.id);
                out.set(layer, found);
            }
        }
        out
    }

    /// The arrondissements in force at `date` that a code of the city's
    /// files stands for (`75123` gives the four of Paris Centre); see
    /// [`super::arrondissement_codes_for`].
    #[must_use]
    pub fn arrondissements_for_code(&self, code: &str, date: Date) -> Option<Vec<u32>> {
        super::arrondissement_codes_for(code)?
            .into_iter()
            .map(|c| self.by_code(Layer::Arrondissement, c, date))
            .collect()
    }

    /// Compares a flag carried by points with membership of the
    /// working-class layer in force at each point's date.
    pub fn working_class_agreement(
        &self,
        points: impl IntoIterator<Item = FlaggedPoint>,
    ) -> Agreement {
        let mut a = Agreement::default();
        for p in points {
            let in_layer = self.attribute(p.at, p.date).working_class();
            match (p.flagged, in_layer) {
                (true, true) => a.both += 1,
                (true, false) => a.flag_only += 1,
                (false, true) => a.layer_only += 1,
                (false, false) => a.neither += 1,
            }
        }
        a
    }

    /// Size of the spatial index of a layer version.
    #[must_use]
    pub fn index_stats(&self, id: LayerVersionId) -> Option<GridStats> {
        self.indexes.get(usize::from(id.0)).map(VersionIndex::stats)
    }
}

/// Checks a version name or code: non-empty, short, URL-safe.
pub(crate) fn check_key(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.len() > MAX_KEY_BYTES {
        return Err("is longer than 64 bytes");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("must use only A-Z a-z 0-9 . _ - (it goes into URLs)");
    }
    Ok(())
}

/// Checks that a geometry is polygons of closed rings of at least four
/// finite WGS84 positions. Returns the bad value and the reason.
pub(crate) fn check_geometry(mp: &MultiPolygon<f64>) -> Result<(), (String, &'static str)> {
    if mp.0.is_empty() {
        return Err((
            String::from("MultiPolygon with no polygon"),
            "geometry has no polygon",
        ));
    }
    for poly in &mp.0 {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            for c in &ring.0 {
                check_position(c.x, c.y)?;
            }
            if ring.0.len() < 4 {
                return Err((
                    format!("{} positions", ring.0.len()),
                    "a ring needs at least 4 positions",
                ));
            }
            if ring.0.first() != ring.0.last() {
                return Err((
                    format!("{:?}", ring.0.first()),
                    "a ring must end where it starts",
                ));
            }
        }
    }
    if mp.bounding_rect().is_none() {
        return Err((String::from("empty"), "geometry has no position"));
    }
    Ok(())
}

/// Checks one position: finite, longitude in -180..=180, latitude in -90..=90.
pub(crate) fn check_position(lon: f64, lat: f64) -> Result<(), (String, &'static str)> {
    LonLat::new(lon, lat).map(|_| ()).map_err(|e| {
        let reason = match e {
            crate::model::CoordError::Longitude { value, .. } if !value.is_finite() => {
                "longitude is not a finite number"
            }
            crate::model::CoordError::Longitude { .. } => "longitude is outside -180..180",
            crate::model::CoordError::Latitude { value, .. } if !value.is_finite() => {
                "latitude is not a finite number"
            }
            crate::model::CoordError::Latitude { .. }
            | crate::model::CoordError::Envelope { .. } => "latitude is outside -90..90",
        };
        (format!("[{lon}, {lat}]"), reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;
    use time::macros::date;

    fn square(x0: f64, code: &str) -> NewDistrict {
        NewDistrict {
            code: code.into(),
            name: format!("Square {code}"),
            geometry: polygon![(x: x0, y: 0.0), (x: x0 + 1.0, y: 0.0), (x: x0 + 1.0, y: 1.0), (x: x0, y: 1.0)].into(),
            attributes: Attributes::default(),
        }
    }

    fn meta(version: &str, official: bool, from: Option<Date>, to: Option<Date>) -> LayerMeta {
        LayerMeta {
            official,
            valid_from: from,
            valid_to: to,
            ..LayerMeta::new(Layer::WorkingClass, version, "test")
        }
    }

    fn version_at(reg: &DistrictRegistry, d: Date) -> Option<&str> {
        reg.version_at(Layer::WorkingClass, d)
            .map(|v| v.meta.version.as_str())
    }

    #[test]
    fn an_official_version_beats_a_derived_one_and_then_the_newest_start_wins() {
        let mut reg = DistrictRegistry::new();
        reg.add_layer(meta("derived", false, None, None), vec![square(0.0, "D")])
            .unwrap();
        reg.add_layer(
            meta(
                "2015",
                true,
                Some(date!(2015 - 01 - 01)),
                Some(date!(2024 - 01 - 01)),
            ),
            vec![square(0.0, "A")],
        )
        .unwrap();
        reg.add_layer(meta("open", true, None, None), vec![square(0.0, "O")])
            .unwrap();
        reg.add_layer(
            meta("2024", true, Some(date!(2024 - 01 - 01)), None),
            vec![square(0.0, "B")],
        )
        .unwrap();
        // Unbounded official "open" counts as the oldest start.
        assert_eq!(version_at(&reg, date!(2010 - 01 - 01)), Some("open"));
        assert_eq!(version_at(&reg, date!(2015 - 01 - 01)), Some("2015"));
        assert_eq!(version_at(&reg, date!(2023 - 12 - 31)), Some("2015"));
        assert_eq!(version_at(&reg, date!(2024 - 01 - 01)), Some("2024"));
        let p = LonLat::new(0.5, 0.5).unwrap();
        let at = |d| {
            reg.attribute(p, d)
                .get(Layer::WorkingClass)
                .map(|id| reg.get(id).unwrap().public_id.clone())
        };
        assert_eq!(
            at(date!(2020 - 01 - 01)).as_deref(),
            Some("working_class:2015:A")
        );
        assert_eq!(
            at(date!(2030 - 01 - 01)).as_deref(),
            Some("working_class:2024:B")
        );
        assert_eq!(reg.districts(Layer::WorkingClass, None).count(), 4);
        assert_eq!(
            reg.districts(Layer::Arrondissement, Some(date!(2030 - 01 - 01)))
                .count(),
            0
        );
    }

    #[test]
    fn districts_get_dense_ids_in_code_order_and_a_shared_edge_goes_to_the_smaller_code() {
        let mut reg = DistrictRegistry::new();
        let v = reg
            .add_layer(
                meta("v1", true, None, None),
                vec![square(1.0, "B"), square(0.0, "A"), square(5.0, "C")],
            )
            .unwrap();
        let codes: Vec<&str> = reg
            .districts(Layer::WorkingClass, None)
            .map(|id| reg.get(id).unwrap().code.as_str())
            .collect();
        assert_eq!(codes, ["A", "B", "C"]);
        assert_eq!(reg.layer_version(v).map(LayerVersion::len), Some(3));
        let day = date!(2024 - 01 - 01);
        let code_at = |x, y| {
            reg.attribute(LonLat::new(x, y).unwrap(), day)
                .get(Layer::WorkingClass)
                .map(|id| reg.get(id).unwrap().code.as_str())
        };
        assert_eq!(code_at(1.0, 0.5), Some("A"), "shared edge");
        assert_eq!(code_at(1.0, 1.0), Some("A"), "shared vertex");
        assert_eq!(code_at(1.5, 0.5), Some("B"));
        assert_eq!(code_at(2.0, 0.5), Some("B"), "outer edge");
        assert_eq!(code_at(3.0, 0.5), None, "gap");
        assert_eq!(reg.by_code(Layer::WorkingClass, "C", day), Some(2));
        assert_eq!(reg.by_code(Layer::WorkingClass, "Z", day), None);
        assert_eq!(reg.containing(LonLat::new(0.5, 0.5).unwrap(), day), vec![0]);
    }

    #[test]
    fn bad_layer_metadata_is_refused() {
        let mut reg = DistrictRegistry::new();
        let cases = [
            (meta("", true, None, None), "version", "must not be empty"),
            (
                meta("2024/1", true, None, None),
                "version",
                "must use only A-Z a-z 0-9 . _ - (it goes into URLs)",
            ),
            (
                meta(
                    "x",
                    true,
                    Some(date!(2024 - 01 - 01)),
                    Some(date!(2024 - 01 - 01)),
                ),
                "valid_to",
                "the validity period is empty: valid_to must be after valid_from",
            ),
        ];
        for (m, field, reason) in cases {
            match reg.add_layer(m, vec![square(0.0, "A")]) {
                Err(DistrictError::InvalidMeta {
                    field: f,
                    reason: r,
                    ..
                }) => assert_eq!((f, r), (field, reason)),
                other => panic!("{other:?}"),
            }
        }
        reg.add_layer(meta("v1", true, None, None), vec![square(0.0, "A")])
            .unwrap();
        assert!(matches!(
            reg.add_layer(meta("v1", false, None, None), vec![square(0.0, "A")]),
            Err(DistrictError::InvalidMeta {
                reason: "this layer already has a version of that name",
                ..
            })
        ));
        assert!(matches!(
            reg.add_layer(
                meta("v2", true, None, None),
                vec![square(0.0, "A"), square(1.0, "A")]
            ),
            Err(DistrictError::DuplicateCode {
                first: 0,
                second: 1,
                ..
            })
        ));
        assert_eq!(reg.len(), 1, "refused layers add nothing");
    }

    #[test]
    fn census_shares_and_sums() {
        let a = Census15Plus {
            year: 2011,
            total: 100,
            by_category: [0, 0, 10, 10, 20, 10, 30, 20],
        };
        assert_eq!(a.working_class_share(), Some(0.3));
        let b = a.plus(&a);
        assert_eq!((b.total, b.by_category[4]), (200, 40));
        assert_eq!(Census15Plus { total: 0, ..a }.working_class_share(), None);
        let attrs = Attributes {
            census_15_plus: Some(a),
            ..Attributes::default()
        };
        assert_eq!(
            attrs.counts()[..2],
            [("census_year", 2011), ("pop15p", 100)]
        );
        assert_eq!(attrs.counts().len(), 10);
    }
}
