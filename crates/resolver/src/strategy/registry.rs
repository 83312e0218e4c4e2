//! The built-in strategies by name.

use crate::{Aggressive, Conservative, Intelligent, Strategy, UnknownStrategy};

/// The names [`strategy_by_name`] knows, in the order they are listed to users.
pub const STRATEGY_NAMES: &[&str] = &["conservative", "aggressive", "intelligent"];

/// A built-in strategy by name (case-insensitive).
///
/// ```
/// let strategy = resolver::strategy_by_name("intelligent")?;
/// assert_eq!(strategy.name(), "intelligent");
/// let Err(err) = resolver::strategy_by_name("yolo") else { unreachable!() };
/// assert!(err.to_string().contains("conservative, aggressive, intelligent"));
/// # Ok::<(), resolver::UnknownStrategy>(())
/// ```
pub fn strategy_by_name(name: &str) -> Result<Box<dyn Strategy + Send + Sync>, UnknownStrategy> {
    match name.trim().to_ascii_lowercase().as_str() {
        "conservative" => Ok(Box::new(Conservative)),
        "aggressive" => Ok(Box::new(Aggressive)),
        "intelligent" => Ok(Box::new(Intelligent)),
        _ => Err(UnknownStrategy {
            name: name.to_owned(),
            known: STRATEGY_NAMES.iter().map(|&n| n.to_owned()).collect(),
        }),
    }
}
