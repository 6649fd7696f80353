//! Checked WGS84 coordinates and lon/lat envelopes.

use std::fmt;

/// Why a coordinate was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoordError {
    #[error("invalid longitude {value}: {reason}")]
    Longitude { value: f64, reason: &'static str },
    #[error("invalid latitude {value}: {reason}")]
    Latitude { value: f64, reason: &'static str },
    #[error("invalid bounding box: {reason}")]
    Envelope { reason: &'static str },
}

/// A WGS84 (EPSG:4326) position, longitude first as in GeoJSON.
///
/// The only way to build one is [`LonLat::new`], which rejects non-finite and
/// out-of-range values, so every `LonLat` in the system is a real place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLat {
    lon: f64,
    lat: f64,
}

impl LonLat {
    /// Checks and builds a position.
    ///
    /// # Errors
    /// [`CoordError`] when a value is NaN, infinite, or outside
    /// -180..=180 (longitude) / -90..=90 (latitude).
    ///
    /// ```
    /// use civicmap::model::LonLat;
    /// assert!(LonLat::new(2.35, 48.85).is_ok());
    /// assert!(LonLat::new(f64::NAN, 48.85).is_err());
    /// assert!(LonLat::new(2.35, 91.0).is_err());
    /// ```
    pub fn new(lon: f64, lat: f64) -> Result<Self, CoordError> {
        if !lon.is_finite() {
            return Err(CoordError::Longitude {
                value: lon,
                reason: "not a finite number",
            });
        }
        if !lat.is_finite() {
            return Err(CoordError::Latitude {
                value: lat,
                reason: "not a finite number",
            });
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(CoordError::Longitude {
                value: lon,
                reason: "outside -180..180",
            });
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordError::Latitude {
                value: lat,
                reason: "outside -90..90",
            });
        }
        Ok(Self { lon, lat })
    }

    /// Rebuilds a position that was checked by [`LonLat::new`] before being
    /// stored in a crate-internal structure (the spatial index). Not for
    /// outside input: that always goes through [`LonLat::new`].
    #[must_use]
    pub(crate) fn from_checked(lon: f64, lat: f64) -> Self {
        debug_assert!(
            Self::new(lon, lat).is_ok(),
            "unchecked position {lon},{lat}"
        );
        Self { lon, lat }
    }

    #[must_use]
    pub fn lon(self) -> f64 {
        self.lon
    }

    #[must_use]
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Geodesic (haversine, mean Earth radius) distance in metres.
    #[must_use]
    pub fn distance_m(self, other: LonLat) -> f64 {
        use geo::{Distance, Haversine, Point};
        Haversine.distance(
            Point::new(self.lon, self.lat),
            Point::new(other.lon, other.lat),
        )
    }

    /// An envelope that contains every point within `radius_m` metres of `self`
    /// (a conservative box for index queries, refined by [`LonLat::distance_m`]).
    #[must_use]
    pub fn envelope_around(self, radius_m: f64) -> Envelope {
        const METRES_PER_DEGREE_LAT: f64 = 111_132.0;
        // Slightly generous, so the box never misses a point the exact test keeps.
        let dlat = radius_m / METRES_PER_DEGREE_LAT * 1.01;
        let cos = self.lat.to_radians().cos().max(1e-6);
        let dlon = (dlat / cos).min(360.0);
        Envelope {
            min_lon: (self.lon - dlon).max(-180.0),
            min_lat: (self.lat - dlat).max(-90.0),
            max_lon: (self.lon + dlon).min(180.0),
            max_lat: (self.lat + dlat).min(90.0),
        }
    }

    #[must_use]
    pub fn to_array(self) -> [f64; 2] {
        [self.lon, self.lat]
    }
}

impl fmt::Display for LonLat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.lon, self.lat)
    }
}

/// A lon/lat box, edges included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Envelope {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Envelope {
    /// Checks and builds a box from `minlon,minlat,maxlon,maxlat`.
    ///
    /// # Errors
    /// [`CoordError`] when a corner is not a valid position or min > max.
    pub fn new(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Result<Self, CoordError> {
        LonLat::new(min_lon, min_lat)?;
        LonLat::new(max_lon, max_lat)?;
        if min_lon > max_lon {
            return Err(CoordError::Envelope {
                reason: "minlon is greater than maxlon",
            });
        }
        if min_lat > max_lat {
            return Err(CoordError::Envelope {
                reason: "minlat is greater than maxlat",
            });
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }

    /// Whether `p` lies in the box, edges included.
    #[must_use]
    pub fn contains(&self, p: LonLat) -> bool {
        self.contains_xy(p.lon(), p.lat())
    }

    /// Whether (`lon`, `lat`) lies in the box, edges included.
    #[must_use]
    pub fn contains_xy(&self, lon: f64, lat: f64) -> bool {
        (self.min_lon..=self.max_lon).contains(&lon) && (self.min_lat..=self.max_lat).contains(&lat)
    }

    /// The box's area on the sphere (mean Earth radius), in km²: the zone
    /// between its parallels, times the share of longitude it spans.
    #[must_use]
    pub fn area_km2(&self) -> f64 {
        const R_KM: f64 = 6_371.008_8;
        let dlon = (self.max_lon - self.min_lon).to_radians();
        let band = self.max_lat.to_radians().sin() - self.min_lat.to_radians().sin();
        R_KM * R_KM * dlon * band
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_and_out_of_range_coordinates_are_refused() {
        for (lon, lat) in [
            (f64::NAN, 0.0),
            (0.0, f64::NAN),
            (f64::INFINITY, 0.0),
            (0.0, f64::NEG_INFINITY),
            (180.5, 0.0),
            (-181.0, 0.0),
            (0.0, 90.01),
            (0.0, -91.0),
        ] {
            assert!(LonLat::new(lon, lat).is_err(), "{lon},{lat} accepted");
        }
    }

    #[test]
    fn a_box_area_is_its_spherical_area_in_square_kilometres() {
        // One degree square at the equator: ~12,364 km²; the world: 4πR².
        let square = Envelope::new(0.0, 0.0, 1.0, 1.0).unwrap().area_km2();
        assert!((square - 12_364.0).abs() < 5.0, "{square}");
        let world = Envelope::new(-180.0, -90.0, 180.0, 90.0)
            .unwrap()
            .area_km2();
        assert!((world - 510_065_600.0).abs() < 1_000.0, "{world}");
        // Paris's served envelope: about 280 km².
        let paris = Envelope::new(2.20, 48.80, 2.49, 48.92).unwrap().area_km2();
        assert!((270.0..290.0).contains(&paris), "{paris}");
    }

    #[test]
    fn distance_is_in_geodesic_metres() {
        // Notre-Dame to the Eiffel Tower: about 4.1 km.
        let a = LonLat::new(2.3499, 48.8530).unwrap();
        let b = LonLat::new(2.2945, 48.8584).unwrap();
        let d = a.distance_m(b);
        assert!((4_000.0..4_200.0).contains(&d), "{d}");
    }

    #[test]
    fn the_envelope_around_a_point_holds_every_point_within_the_radius() {
        let c = LonLat::new(2.35, 48.85).unwrap();
        let env = c.envelope_around(100.0);
        for bearing in 0..360 {
            let b = f64::from(bearing).to_radians();
            // 99.9 m in each direction, computed on the sphere.
            let dlat = 99.9 * b.cos() / 111_195.0;
            let dlon = 99.9 * b.sin() / (111_195.0 * c.lat().to_radians().cos());
            let p = LonLat::new(c.lon() + dlon, c.lat() + dlat).unwrap();
            assert!(c.distance_m(p) < 100.0);
            assert!(env.contains(p), "bearing {bearing}");
        }
    }

    #[test]
    fn an_inverted_bounding_box_is_refused() {
        assert!(Envelope::new(2.4, 48.8, 2.3, 48.9).is_err());
        assert!(Envelope::new(2.3, 48.9, 2.4, 48.8).is_err());
        assert!(Envelope::new(2.3, 48.8, 2.4, 48.9).is_ok());
    }
}
