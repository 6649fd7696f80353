//! Vector tiles: the pure core that turns positions and polygons into
//! Mapbox Vector Tiles.
//!
//! - [`geom`]: tile addressing in Web Mercator (XYZ scheme, y down, as OSM and
//!   Google), the lon/lat envelope of a tile, projection to tile coordinates,
//!   polygon clipping and simplification, H3 hexagons as tile polygons.
//! - [`mvt`]: a direct protobuf writer for the vector tile 2.1 schema, with
//!   per-layer de-duplication of keys and values, and the gzip step.
//!
//! What this module is responsible for: which tile a point belongs to (the
//! half-open rule of [`TileId::containing`]), where it lands inside the tile
//! ([`TileTransform::project`]), what a polygon looks like once cut to the
//! buffered tile ([`clip_and_simplify`]), and bytes that any MVT 2.1 reader
//! decodes (ring winding included).
//!
//! What it must not do: import axum, sqlx or serde_json, do IO, read the
//! report index or the store, or see personal data. Assembling the layers of a
//! tile from the index, caching and HTTP live elsewhere, on top of this API:
//!
//! ```
//! use civicmap::model::LonLat;
//! use civicmap::tiles::{EXTENT, TileId, TileTransform, TileWriter, Value, gzip};
//!
//! let report = LonLat::new(2.3522, 48.8566)?;
//! let tile = TileId::containing(report, 15);
//! let transform = TileTransform::new(tile);
//!
//! let mut writer = TileWriter::new();
//! let mut layer = writer.layer("reports", EXTENT);
//! layer.point(
//!     Some(42),
//!     transform.project(report.lon(), report.lat()),
//!     &[("kind", Value::Str("anomaly")), ("supports", Value::Int(3))],
//! );
//! layer.finish();
//! let bytes = writer.finish();
//! let compressed = gzip(&bytes);
//! assert!(!compressed.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cache;
pub mod geom;
pub mod mvt;
pub mod render;

pub use self::cache::{CacheStats, CachedTile, TileCache, tiles_showing};
pub use self::geom::{
    BUFFER, EXTENT, MAX_LAT, MAX_ZOOM, TileId, TileTransform, cell_polygon, clip_and_simplify,
    project_ring,
};
pub use self::mvt::{GZIP_LEVEL, LayerWriter, Tag, TileWriter, Value, gzip};
pub use self::render::{
    DistrictBoxes, DrawnTile, MAX_FEATURES, MAX_TILE_BYTES, Sources, TileLayer, TileQuery,
    TileSettings, draw, layer_fields,
};

/// Why a tile request or tile geometry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The address is not a tile of the XYZ pyramid: zoom above
    /// [`MAX_ZOOM`], or a column or row not below `2^z`. The HTTP layer maps
    /// it to 400 Bad Request.
    #[error("invalid tile {z}/{x}/{y}: {reason}")]
    InvalidTile {
        z: u8,
        x: u32,
        y: u32,
        reason: &'static str,
    },
}
