//! A direct writer of Mapbox Vector Tiles 2.1 (`vector_tile.proto`), and the
//! gzip step.
//!
//! The protobuf is written by hand (varints, zigzag, length prefixes
//! computed before writing), straight into the tile's buffer: no message
//! structs, no per-feature allocation. Per layer, keys and values are
//! de-duplicated (one entry per distinct key, one per distinct typed value),
//! and a layer with no feature is left out, as the spec asks. An empty tile
//! is an empty byte string.
//!
//! What the writer checks: polygon rings are wound as the spec wants
//! (exterior positive area by its shoelace formula, i.e. clockwise on screen
//! with y down; holes negative), reversing them if needed; repeated
//! consecutive points are dropped; rings with no area are skipped. What it
//! trusts: coordinates are already in tile units (see
//! [`super::TileTransform`]), property keys are not repeated within one
//! feature, and layer names are not repeated within one tile (a panic).
//!
//! Values are typed: [`Value::Str`] is `string_value`, [`Value::Int`]
//! `sint_value` (zigzag), [`Value::Uint`] `uint_value`, [`Value::Bool`]
//! `bool_value`, [`Value::Double`] `double_value`. `float_value` and the
//! plain `int_value` are not written.
//!
//! The key and value tables use a small Fx-style hash (not `SipHash`): their
//! contents come from the service's own data (categories, statuses, days,
//! counts), never from text that a client chose to collide.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use geo::{Coord, Polygon};
use hashbrown::HashTable;

use super::geom::twice_signed_area;

/// The gzip level of [`gzip`] (libdeflate's, 1–12): the fastest. On a 44 KB
/// tile of 1,000 reports it took 135 µs for 20.7 KB, where zlib-rs's level 1
/// took 151 µs for 24.5 KB (`benches/tile_encode.rs`).
pub const GZIP_LEVEL: u32 = 1;

/// The MVT version written in every layer.
const VERSION: u8 = 2;

/// Bytes reserved for a layer's length while it is written: a varint of 3
/// bytes holds up to 2 MiB, beyond any tile worth serving.
const LAYER_LEN_BYTES: usize = 3;

// Field keys (field number << 3 | wire type) of vector_tile.proto.
/// Tile.layers (3, length-delimited).
const TILE_LAYER: u8 = 3 << 3 | 2;
/// Layer.name (1, length-delimited).
const LAYER_NAME: u8 = 1 << 3 | 2;
/// Layer.features (2, length-delimited).
const LAYER_FEATURE: u8 = 2 << 3 | 2;
/// Layer.keys (3, length-delimited).
const LAYER_KEY: u8 = 3 << 3 | 2;
/// Layer.values (4, length-delimited).
const LAYER_VALUE: u8 = 4 << 3 | 2;
/// Layer.extent (5, varint).
const LAYER_EXTENT: u8 = 5 << 3;
/// Layer.version (15, varint).
const LAYER_VERSION: u8 = 15 << 3;
/// Feature.id (1, varint).
const FEATURE_ID: u8 = 1 << 3;
/// Feature.tags (2, packed).
const FEATURE_TAGS: u8 = 2 << 3 | 2;
/// Feature.type (3, varint).
const FEATURE_TYPE: u8 = 3 << 3;
/// Feature.geometry (4, packed).
const FEATURE_GEOMETRY: u8 = 4 << 3 | 2;
/// Value.string_value (1, length-delimited).
const VALUE_STRING: u8 = 1 << 3 | 2;
/// Value.double_value (3, 64-bit).
const VALUE_DOUBLE: u8 = 3 << 3 | 1;
/// Value.uint_value (5, varint).
const VALUE_UINT: u8 = 5 << 3;
/// Value.sint_value (6, varint, zigzag).
const VALUE_SINT: u8 = 6 << 3;
/// Value.bool_value (7, varint).
const VALUE_BOOL: u8 = 7 << 3;

/// GeomType values.
const POINT: u8 = 1;
const POLYGON: u8 = 3;

/// Geometry command ids.
const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

/// A typed property value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `string_value`.
    Str(&'a str),
    /// `sint_value` (zigzag-encoded, cheap for negatives).
    Int(i64),
    /// `uint_value`.
    Uint(u64),
    /// `bool_value`.
    Bool(bool),
    /// `double_value`.
    Double(f64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::Uint(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

/// Writes one tile: layers one after the other, each through a
/// [`LayerWriter`].
///
/// ```
/// use civicmap::tiles::{EXTENT, TileWriter, Value};
///
/// let mut tile = TileWriter::new();
/// {
///     let mut layer = tile.layer("reports", EXTENT);
///     layer.point(Some(7), (100, 200), &[("kind", Value::Str("anomaly")), ("supports", Value::Int(3))]);
///     layer.finish(); // or let it drop
/// }
/// tile.layer("projects", EXTENT); // no feature: left out
/// let bytes = tile.finish();
/// assert!(!bytes.is_empty());
/// assert!(TileWriter::new().finish().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct TileWriter {
    buf: Vec<u8>,
    names: Vec<String>,
}

impl TileWriter {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer whose buffer starts with room for `bytes` (about 45 bytes
    /// per point with a report's six properties), sparing the copies of a
    /// growing buffer.
    #[must_use]
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            names: Vec::new(),
        }
    }

    /// Starts a layer; it is written into the tile when the [`LayerWriter`]
    /// is finished or dropped, and only if it has a feature.
    ///
    /// # Panics
    /// When `extent` is 0, or when a layer of the same name was already
    /// started in this tile (the spec forbids two layers with one name).
    #[track_caller]
    pub fn layer(&mut self, name: &str, extent: u32) -> LayerWriter<'_> {
        assert!(extent > 0, "layer {name:?}: extent 0");
        assert!(
            !self.names.iter().any(|n| n == name),
            "layer {name:?} started twice in one tile"
        );
        self.names.push(name.to_owned());
        LayerWriter::new(self, name, extent)
    }

    /// Whether no layer has been written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded tile; empty when no layer had a feature.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// A property already in a layer's key and value tables
/// ([`LayerWriter::tag_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(u32, u32);

/// Writes the features of one layer. Created by [`TileWriter::layer`];
/// completed on [`LayerWriter::finish`] or drop.
///
/// The layer's header and features are written straight into the tile's
/// buffer (protobuf does not care about field order): the key and value
/// tables follow them when the layer is completed, and the layer's length is
/// patched in then. A layer that got no feature is cut off again.
#[derive(Debug)]
pub struct LayerWriter<'t> {
    tile: &'t mut TileWriter,
    /// Where the layer starts in the tile's buffer (its field key).
    start: usize,
    extent: u32,
    feature_count: usize,
    keys: Vec<String>,
    key_ids: FxHashMap<String, u32>,
    /// Key index last seen at each property position: features of a layer
    /// mostly list the same keys in the same order.
    recent_keys: Vec<u32>,
    /// Encoded values, each with its field key and length.
    values: Vec<u8>,
    value_count: u32,
    /// String values: `(hash, value index, start, len)`, the bytes being
    /// those already written in `values` (no copy, no allocation).
    strings: HashTable<(u64, u32, u32, u32)>,
    ints: FxHashMap<i64, u32>,
    uints: FxHashMap<u64, u32>,
    /// By bit pattern: `0.0` and `-0.0` are two values, NaN one.
    doubles: FxHashMap<u64, u32>,
    bools: [Option<u32>; 2],
    /// Scratch for one feature.
    tags: Vec<u32>,
    geometry: Vec<u32>,
    ring: Vec<Coord<i32>>,
}

impl<'t> LayerWriter<'t> {
    fn new(tile: &'t mut TileWriter, name: &str, extent: u32) -> Self {
        let buf = &mut tile.buf;
        let start = buf.len();
        buf.push(TILE_LAYER);
        buf.extend([0; LAYER_LEN_BYTES]);
        buf.push(LAYER_NAME);
        put_varint(buf, name.len() as u64);
        buf.extend_from_slice(name.as_bytes());
        Self {
            tile,
            start,
            extent,
            feature_count: 0,
            keys: Vec::new(),
            key_ids: FxHashMap::default(),
            recent_keys: Vec::new(),
            values: Vec::new(),
            value_count: 0,
            strings: HashTable::new(),
            ints: FxHashMap::default(),
            uints: FxHashMap::default(),
            doubles: FxHashMap::default(),
            bools: [None; 2],
            tags: Vec::new(),
            geometry: Vec::new(),
            ring: Vec::new(),
        }
    }

    /// Adds a point feature at tile coordinates `(x, y)`, with an optional id
    /// (the spec says ids SHOULD be unique in a layer; not checked) and
    /// properties (keys not repeated within the feature; not checked).
    pub fn point(&mut self, id: Option<u64>, (x, y): (i32, i32), props: &[(&str, Value<'_>)]) {
        self.geometry.clear();
        self.geometry
            .extend([command(MOVE_TO, 1), zigzag32(x), zigzag32(y)]);
        self.tag(props);
        self.push_feature(id, POINT);
    }

    /// Drops the layer and everything written into it.
    pub fn discard(mut self) {
        // `Drop` cuts off a layer without features.
        self.feature_count = 0;
    }

    /// The tag (key and value indexes) of one property, for
    /// [`Self::point_tagged`]: a caller drawing many features with few
    /// distinct values looks each up once instead of once per feature.
    pub fn tag_of(&mut self, key: &str, value: Value<'_>) -> Tag {
        let k = self.key_ids.get(key).copied().unwrap_or_else(|| {
            let k = index_u32(self.keys.len());
            self.keys.push(key.to_owned());
            self.key_ids.insert(key.to_owned(), k);
            k
        });
        Tag(k, self.value_index(value))
    }

    /// [`Self::point`] with properties given as tags from [`Self::tag_of`]
    /// of this layer.
    pub fn point_tagged(&mut self, id: Option<u64>, (x, y): (i32, i32), tags: &[Tag]) {
        self.geometry.clear();
        self.geometry
            .extend([command(MOVE_TO, 1), zigzag32(x), zigzag32(y)]);
        self.tags.clear();
        self.tags.extend(tags.iter().flat_map(|t| [t.0, t.1]));
        self.push_feature(id, POINT);
    }

    /// Adds a polygon feature made of `polygons` (one `Polygon` or the parts
    /// of a `MultiPolygon`: pass `&multi.0`, or `std::slice::from_ref(&p)`),
    /// in tile coordinates, rings closed or not.
    ///
    /// Rings are written wound as MVT 2.1 wants whatever their input winding;
    /// repeated consecutive points are dropped; a ring with no area is
    /// skipped, and with an exterior its holes. Returns whether a feature was
    /// written (`false`: nothing with an area was left).
    pub fn polygon(
        &mut self,
        id: Option<u64>,
        polygons: &[Polygon<i32>],
        props: &[(&str, Value<'_>)],
    ) -> bool {
        self.geometry.clear();
        let mut cursor = Coord { x: 0, y: 0 };
        let mut any = false;
        for polygon in polygons {
            let ring = &mut self.ring;
            let geometry = &mut self.geometry;
            if !push_ring(&polygon.exterior().0, true, ring, geometry, &mut cursor) {
                continue;
            }
            any = true;
            for hole in polygon.interiors() {
                push_ring(&hole.0, false, ring, geometry, &mut cursor);
            }
        }
        if !any {
            return false;
        }
        self.tag(props);
        self.push_feature(id, POLYGON);
        true
    }

    /// Number of features written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.feature_count
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.feature_count == 0
    }

    /// Writes the layer into the tile (if it has a feature). Dropping the
    /// writer does the same.
    pub fn finish(self) {}

    fn tag(&mut self, props: &[(&str, Value<'_>)]) {
        self.tags.clear();
        for (position, (key, value)) in props.iter().enumerate() {
            let k = self.key_index(position, key);
            let v = self.value_index(*value);
            self.tags.extend([k, v]);
        }
    }

    fn key_index(&mut self, position: usize, key: &str) -> u32 {
        if let Some(&k) = self.recent_keys.get(position)
            && bytes_eq(self.keys[k as usize].as_bytes(), key.as_bytes())
        {
            return k;
        }
        let k = if let Some(&k) = self.key_ids.get(key) {
            k
        } else {
            let k = index_u32(self.keys.len());
            self.keys.push(key.to_owned());
            self.key_ids.insert(key.to_owned(), k);
            k
        };
        if let Some(slot) = self.recent_keys.get_mut(position) {
            *slot = k;
        } else {
            self.recent_keys.push(k);
        }
        k
    }

    fn value_index(&mut self, value: Value<'_>) -> u32 {
        let string_hash = match value {
            Value::Str(s) => fx_hash(s.as_bytes()),
            _ => 0,
        };
        let known = match value {
            Value::Str(s) => {
                let values = &self.values;
                self.strings
                    .find(string_hash, |&(h, _, start, len)| {
                        h == string_hash
                            && bytes_eq(
                                &values[start as usize..(start + len) as usize],
                                s.as_bytes(),
                            )
                    })
                    .map(|(_, v, _, _)| v)
            }
            Value::Int(i) => self.ints.get(&i),
            Value::Uint(u) => self.uints.get(&u),
            Value::Double(d) => self.doubles.get(&d.to_bits()),
            Value::Bool(b) => self.bools[usize::from(b)].as_ref(),
        };
        if let Some(&v) = known {
            return v;
        }
        let v = self.value_count;
        self.value_count += 1;
        let buf = &mut self.values;
        buf.push(LAYER_VALUE);
        match value {
            Value::Str(s) => {
                let len = s.len() as u64;
                put_varint(buf, 1 + varint_len(len) + len);
                buf.push(VALUE_STRING);
                put_varint(buf, len);
                let start = index_u32(buf.len());
                buf.extend_from_slice(s.as_bytes());
                self.strings.insert_unique(
                    string_hash,
                    (string_hash, v, start, index_u32(s.len())),
                    |&(h, ..)| h,
                );
            }
            Value::Int(i) => {
                let z = zigzag64(i);
                put_varint(buf, 1 + varint_len(z));
                buf.push(VALUE_SINT);
                put_varint(buf, z);
                self.ints.insert(i, v);
            }
            Value::Uint(u) => {
                put_varint(buf, 1 + varint_len(u));
                buf.push(VALUE_UINT);
                put_varint(buf, u);
                self.uints.insert(u, v);
            }
            Value::Double(d) => {
                buf.push(9);
                buf.push(VALUE_DOUBLE);
                buf.extend_from_slice(&d.to_le_bytes());
                self.doubles.insert(d.to_bits(), v);
            }
            Value::Bool(b) => {
                buf.extend([2, VALUE_BOOL, u8::from(b)]);
                self.bools[usize::from(b)] = Some(v);
            }
        }
        v
    }

    /// Writes a feature from `self.tags` and `self.geometry`, in one pass:
    /// each length is written as one byte and widened afterwards in the rare
    /// case it needs more.
    fn push_feature(&mut self, id: Option<u64>, geom_type: u8) {
        let buf = &mut self.tile.buf;
        buf.reserve(24 + 5 * (self.tags.len() + self.geometry.len()));
        buf.push(LAYER_FEATURE);
        let feature_at = start_len(buf);
        if let Some(id) = id {
            buf.push(FEATURE_ID);
            put_varint(buf, id);
        }
        if !self.tags.is_empty() {
            buf.push(FEATURE_TAGS);
            let tags_at = start_len(buf);
            for &t in &self.tags {
                put_varint(buf, u64::from(t));
            }
            end_len(buf, tags_at);
        }
        buf.extend([FEATURE_TYPE, geom_type, FEATURE_GEOMETRY]);
        let geometry_at = start_len(buf);
        for &g in &self.geometry {
            put_varint(buf, u64::from(g));
        }
        end_len(buf, geometry_at);
        end_len(buf, feature_at);
        self.feature_count += 1;
    }
}

/// Reserves one byte for the length of what follows; returns its position.
#[inline]
fn start_len(buf: &mut Vec<u8>) -> usize {
    buf.push(0);
    buf.len() - 1
}

/// Writes the length of everything after `at` at `at`, widening the varint
/// (moving the bytes after it) when it does not fit one byte.
#[inline]
fn end_len(buf: &mut Vec<u8>, at: usize) {
    let len = (buf.len() - at - 1) as u64;
    if len < 0x80 {
        buf[at] = len as u8;
    } else {
        let mut varint = Vec::with_capacity(10);
        put_varint(&mut varint, len);
        buf.splice(at..=at, varint);
    }
}

impl Drop for LayerWriter<'_> {
    fn drop(&mut self) {
        let out = &mut self.tile.buf;
        if self.feature_count == 0 {
            out.truncate(self.start);
            return;
        }
        for key in &self.keys {
            out.push(LAYER_KEY);
            put_varint(out, key.len() as u64);
            out.extend_from_slice(key.as_bytes());
        }
        out.extend_from_slice(&self.values);
        out.push(LAYER_EXTENT);
        put_varint(out, u64::from(self.extent));
        out.extend([LAYER_VERSION, VERSION]);
        // The length, in the bytes reserved for it: moving the layer only
        // when its varint is shorter (small layers) or longer (over 2 MB).
        let len_at = self.start + 1;
        let body = out.len() - len_at - LAYER_LEN_BYTES;
        let mut len = Vec::with_capacity(10);
        put_varint(&mut len, body as u64);
        if len.len() == LAYER_LEN_BYTES {
            out[len_at..len_at + LAYER_LEN_BYTES].copy_from_slice(&len);
        } else {
            out.splice(len_at..len_at + LAYER_LEN_BYTES, len);
        }
    }
}

/// Appends one ring's commands (MoveTo, LineTo, ClosePath) to `geometry`,
/// wound for its role; `false` (and nothing written) when it has no area.
fn push_ring(
    input: &[Coord<i32>],
    exterior: bool,
    ring: &mut Vec<Coord<i32>>,
    geometry: &mut Vec<u32>,
    cursor: &mut Coord<i32>,
) -> bool {
    ring.clear();
    for &c in input {
        if ring.last() != Some(&c) {
            ring.push(c);
        }
    }
    while ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    if ring.len() < 3 {
        return false;
    }
    let area = twice_signed_area(ring);
    if area == 0 {
        return false;
    }
    if (area > 0) != exterior {
        ring.reverse();
    }
    let mut delta = |c: Coord<i32>, geometry: &mut Vec<u32>| {
        geometry.extend([
            zigzag32(c.x.wrapping_sub(cursor.x)),
            zigzag32(c.y.wrapping_sub(cursor.y)),
        ]);
        *cursor = c;
    };
    geometry.push(command(MOVE_TO, 1));
    delta(ring[0], geometry);
    geometry.push(command(LINE_TO, index_u32(ring.len() - 1)));
    for &c in &ring[1..] {
        delta(c, geometry);
    }
    geometry.push(command(CLOSE_PATH, 1));
    true
}

/// A geometry command integer.
fn command(id: u32, count: u32) -> u32 {
    debug_assert!(count < 1 << 29, "command count {count}");
    id | count << 3
}

fn zigzag32(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

fn zigzag64(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn varint_len(v: u64) -> u64 {
    // 1 byte per started 7 bits, at least one.
    u64::from((64 - (v | 1).leading_zeros()).div_ceil(7))
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A table index; a layer with more than 4 billion keys, values or ring
/// points is not a tile.
fn index_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// gzip at [`GZIP_LEVEL`].
///
/// ```
/// use civicmap::tiles::gzip;
/// let compressed = gzip(b"a tile");
/// assert_eq!(&compressed[..2], &[0x1f, 0x8b]);
/// ```
#[must_use]
pub fn gzip(tile: &[u8]) -> Vec<u8> {
    gzip_level(tile, GZIP_LEVEL)
}

/// gzip at a given libdeflate level (clamped to 1–12).
#[must_use]
pub fn gzip_level(tile: &[u8], level: u32) -> Vec<u8> {
    use libdeflater::{CompressionLvl, Compressor};
    use std::cell::RefCell;
    thread_local! {
        /// One compressor per thread and level: allocating one costs more
        /// than compressing a small tile.
        static COMPRESSORS: RefCell<Vec<(u32, Compressor)>> = const { RefCell::new(Vec::new()) };
    }
    let level = level.clamp(1, 12);
    COMPRESSORS.with_borrow_mut(|compressors| {
        let at = match compressors.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                let lvl = i32::try_from(level)
                    .ok()
                    .and_then(|l| CompressionLvl::new(l).ok())
                    .unwrap_or_default();
                compressors.push((level, Compressor::new(lvl)));
                compressors.len() - 1
            }
        };
        let c = &mut compressors[at].1;
        let mut out = vec![0; c.gzip_compress_bound(tile.len())];
        let n = c
            .gzip_compress(tile, &mut out)
            .expect("the output is sized by gzip_compress_bound");
        out.truncate(n);
        out
    })
}

pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// [`FxHasher`] over bytes and their length.
fn fx_hash(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.add(bytes.len() as u64);
    h.finish()
}

/// Eight bytes at `i` (a fixed-size copy: one load).
fn read_u64(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Four bytes at `i`.
fn read_u32(s: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(w)
}

/// Byte equality for short strings, inline (word compares) rather than a
/// call to `memcmp`, which dominated the profile.
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let word = read_u64;
    let mut i = 0;
    while i + 8 <= n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last (overlapping) word covers the tail.
    word(a, n - 8) == word(b, n - 8)
}

/// The multiply-rotate hash of rustc (`FxHasher`): a few cycles per word.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    /// Whole words, then the tail read with overlapping fixed-size loads
    /// (a variable-length copy into a buffer stalled on store forwarding and
    /// was the hottest spot of the writer). Callers that need it add the
    /// length, which this leaves out.
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n >= 8 {
            let mut i = 0;
            while i + 8 <= n {
                self.add(read_u64(bytes, i));
                i += 8;
            }
            if i < n {
                self.add(read_u64(bytes, n - 8));
            }
        } else if n >= 4 {
            self.add(u64::from(read_u32(bytes, 0)) | u64::from(read_u32(bytes, n - 4)) << 32);
        } else if n > 0 {
            self.add(
                u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]) << 16,
            );
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_written_with_interned_tags_are_the_bytes_of_points_written_with_values() {
        type Feature = (u64, (i32, i32), [&'static str; 2], i64);
        let features: Vec<Feature> = (0..50)
            .map(|i| {
                (
                    i,
                    (i as i32 * 7, 4096 - i as i32),
                    [["a", "b", "c"][i as usize % 3], ["x", "y"][i as usize % 2]],
                    i64::from(i as i32 % 4) - 1,
                )
            })
            .collect();
        let mut by_value = TileWriter::new();
        let mut layer = by_value.layer("l", 4096);
        for (id, at, [s1, s2], n) in &features {
            layer.point(
                Some(*id),
                *at,
                &[
                    ("s1", Value::Str(s1)),
                    ("s2", Value::Str(s2)),
                    ("n", Value::Int(*n)),
                ],
            );
        }
        layer.finish();
        let mut by_tag = TileWriter::new();
        let mut layer = by_tag.layer("l", 4096);
        for (id, at, [s1, s2], n) in &features {
            let tags = [
                layer.tag_of("s1", Value::Str(s1)),
                layer.tag_of("s2", Value::Str(s2)),
                layer.tag_of("n", Value::Int(*n)),
            ];
            layer.point_tagged(Some(*id), *at, &tags);
        }
        layer.finish();
        assert_eq!(by_value.finish(), by_tag.finish());
    }

    #[test]
    fn varints_have_the_protobuf_length_and_bytes() {
        for (v, bytes) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len() as u64, "{v}");
        }
    }

    #[test]
    fn short_byte_comparison_agrees_with_slice_equality() {
        let words: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"b",
            b"abcdefg",
            b"abcdefh",
            b"abcdefgh",
            b"abcdefgi",
            b"abcdefghi",
            b"abcdefghj",
            b"bbcdefghi",
            b"2024-03-15",
            b"2024-03-16",
            b"categorie-07-encombrants",
            b"categorie-08-encombrants",
            b"categorie-07-encombrantx",
        ];
        for a in &words {
            for b in &words {
                assert_eq!(bytes_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_string_hash_reads_every_byte() {
        // Strings that differ in one byte anywhere, of every length up to
        // 24, hash differently.
        let mut seen = std::collections::HashSet::new();
        for len in 0..=24usize {
            let base = vec![b'a'; len];
            assert!(seen.insert(fx_hash(&base)), "len {len}");
            for i in 0..len {
                let mut s = base.clone();
                s[i] = b'b';
                assert!(seen.insert(fx_hash(&s)), "len {len}, byte {i}");
            }
        }
    }

    #[test]
    fn zigzag_interleaves_signs() {
        assert_eq!(
            [0, -1, 1, -2, 2, i32::MAX, i32::MIN].map(zigzag32),
            [0, 1, 2, 3, 4, u32::MAX - 1, u32::MAX]
        );
        assert_eq!(zigzag64(-3), 5);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
    }

    #[test]
    fn commands_pack_the_count_above_the_id() {
        // The spec's examples: MoveTo(1) = 9, LineTo(3) = 26, ClosePath = 15.
        assert_eq!(command(MOVE_TO, 1), 9);
        assert_eq!(command(LINE_TO, 3), 26);
        assert_eq!(command(CLOSE_PATH, 1), 15);
    }

    #[test]
    fn the_spec_point_example_encodes_to_its_bytes() {
        // vector-tile-spec 2.1, 4.3.5.1: a point at (25, 17) is [9, 50, 34].
        let mut tile = TileWriter::new();
        let mut layer = tile.layer("l", 4096);
        layer.point(None, (25, 17), &[]);
        assert_eq!(layer.geometry, [9, 50, 34]);
        layer.finish();
        assert!(!tile.is_empty());
    }

    #[test]
    #[should_panic(expected = "started twice")]
    fn a_layer_name_cannot_be_used_twice_in_a_tile() {
        let mut tile = TileWriter::new();
        tile.layer("reports", 4096).finish();
        let _again = tile.layer("reports", 4096);
    }
}
