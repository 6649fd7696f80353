//! The DansMaRue category taxonomy (10 categories, their subcategories),
//! shipped as `data/dansmarue_taxonomy.csv`.

use std::collections::HashMap;

/// Dense index of a category in the [`Taxonomy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryId(pub u16);

/// Why a category or subcategory was refused, or the taxonomy file unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxonomyError {
    #[error("unknown category {0:?}")]
    UnknownCategory(String),
    #[error("unknown subcategory {subcategory:?} for category {category:?}")]
    UnknownSubcategory {
        category: String,
        subcategory: String,
    },
    #[error("taxonomy line {line}: {reason}")]
    Malformed { line: usize, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subcategory {
    /// Stable machine code (ASCII slug), unique within its category.
    pub code: String,
    /// The city's label, as in DansMaRue (`soustype`).
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Stable machine code (ASCII slug), e.g. `objets_abandonnes`.
    pub code: String,
    /// The city's label, as in DansMaRue (`type`), e.g. `Objets abandonnés`.
    pub label: String,
    pub subcategories: Vec<Subcategory>,
}

/// Categories and subcategories, looked up by code or by the city's label.
#[derive(Debug, Clone, Default)]
pub struct Taxonomy {
    categories: Vec<Category>,
    by_code: HashMap<String, CategoryId>,
    by_label: HashMap<String, CategoryId>,
}

impl Taxonomy {
    /// Parses the taxonomy CSV (`category,category_label,subcategory,subcategory_label,…`).
    ///
    /// # Errors
    /// [`TaxonomyError::Malformed`] with the line number.
    pub fn from_csv(text: &str) -> Result<Self, TaxonomyError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let mut t = Taxonomy::default();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| TaxonomyError::Malformed {
                line,
                reason: e.to_string(),
            })?;
            let field = |n: usize| {
                rec.get(n)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| TaxonomyError::Malformed {
                        line,
                        reason: format!("column {} is empty", n + 1),
                    })
            };
            let (code, label, sub, sub_label) = (field(0)?, field(1)?, field(2)?, field(3)?);
            let id = match t.by_code.get(code) {
                Some(id) => *id,
                None => {
                    let id = CategoryId(u16::try_from(t.categories.len()).map_err(|_| {
                        TaxonomyError::Malformed {
                            line,
                            reason: "too many categories".into(),
                        }
                    })?);
                    t.categories.push(Category {
                        code: code.to_owned(),
                        label: label.to_owned(),
                        subcategories: Vec::new(),
                    });
                    t.by_code.insert(code.to_owned(), id);
                    t.by_label.insert(label.to_owned(), id);
                    id
                }
            };
            let cat = &mut t.categories[usize::from(id.0)];
            if cat.subcategories.iter().any(|s| s.code == sub) {
                return Err(TaxonomyError::Malformed {
                    line,
                    reason: format!("duplicate subcategory {sub}"),
                });
            }
            cat.subcategories.push(Subcategory {
                code: sub.to_owned(),
                label: sub_label.to_owned(),
            });
        }
        Ok(t)
    }

    #[must_use]
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The category with this id.
    ///
    /// # Panics
    /// If the id does not come from this taxonomy.
    #[must_use]
    pub fn category(&self, id: CategoryId) -> &Category {
        &self.categories[usize::from(id.0)]
    }

    /// Looks a category up by its code, or by the city's label.
    ///
    /// # Errors
    /// [`TaxonomyError::UnknownCategory`].
    pub fn category_id(&self, code_or_label: &str) -> Result<CategoryId, TaxonomyError> {
        self.by_code
            .get(code_or_label)
            .or_else(|| self.by_label.get(code_or_label))
            .copied()
            .ok_or_else(|| TaxonomyError::UnknownCategory(code_or_label.chars().take(80).collect()))
    }

    /// Looks a subcategory of `cat` up by its code or label.
    ///
    /// # Errors
    /// [`TaxonomyError::UnknownSubcategory`].
    pub fn subcategory_index(
        &self,
        cat: CategoryId,
        code_or_label: &str,
    ) -> Result<u16, TaxonomyError> {
        let c = self.category(cat);
        c.subcategories
            .iter()
            .position(|s| s.code == code_or_label || s.label == code_or_label)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| TaxonomyError::UnknownSubcategory {
                category: c.code.clone(),
                subcategory: code_or_label.chars().take(80).collect(),
            })
    }

    /// The subcategory `index` of `cat`, if any.
    #[must_use]
    pub fn subcategory(&self, cat: CategoryId, index: u16) -> Option<&Subcategory> {
        self.category(cat).subcategories.get(usize::from(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../data/dansmarue_taxonomy.csv");

    #[test]
    fn the_shipped_taxonomy_has_the_ten_dansmarue_categories() {
        let t = Taxonomy::from_csv(SHIPPED).unwrap();
        assert_eq!(t.categories().len(), 10);
        let total: usize = t.categories().iter().map(|c| c.subcategories.len()).sum();
        assert_eq!(total, 325);
        let id = t.category_id("objets_abandonnes").unwrap();
        assert_eq!(t.category_id("Objets abandonnés").unwrap(), id);
        assert!(t.category_id("fireworks").is_err());
        let sub = t
            .subcategory_index(id, "Autres objets encombrants abandonnés")
            .unwrap();
        assert_eq!(
            t.subcategory(id, sub).unwrap().label,
            "Autres objets encombrants abandonnés"
        );
    }
}
