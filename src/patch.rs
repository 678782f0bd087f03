//! `Patch<T>`: one field of a partial update, as the domain sees it.
//!
//! An update input leaves a field as it is, clears it, or sets it. The
//! GraphQL layer turns its `MaybeUndefined` (absent / `null` / a value) into
//! this type, so services never see GraphQL's representation.

/// Leave the field as it is, clear it, or set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// Whether the update leaves the field as it is.
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    /// Convert the value of a `Set`, which may fail (validation).
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(value) => Patch::Set(f(value)?),
        })
    }

    /// Write the patch into a nullable field.
    pub fn apply_to(self, target: &mut Option<T>) {
        match self {
            Patch::Keep => {}
            Patch::Clear => *target = None,
            Patch::Set(value) => *target = Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_keep_clear_and_set() {
        let mut field = Some(1);
        Patch::Keep.apply_to(&mut field);
        assert_eq!(field, Some(1));
        Patch::Set(2).apply_to(&mut field);
        assert_eq!(field, Some(2));
        Patch::Clear.apply_to(&mut field);
        assert_eq!(field, None);
        let doubled: Result<Patch<i32>, ()> = Patch::Set(2).try_map(|v| Ok(v * 2));
        assert_eq!(doubled, Ok(Patch::Set(4)));
        assert!(Patch::<i32>::Keep.is_keep());
    }
}
