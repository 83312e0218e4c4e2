//! The stack's config file (placeholder: being written).
