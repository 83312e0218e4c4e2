//! A stack: services and the dependency graph between them.

use std::collections::{BTreeSet, HashMap, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::error::StackError;
use crate::spec::{Condition, ServiceSpec};

/// Services whose dependencies form a directed acyclic graph.
///
/// ```
/// use supervisor::{Condition, ServiceSpec, Stack, StackError};
///
/// let stack = Stack::new(vec![
///     ServiceSpec::new("web", "true").depends_on("api", Condition::Healthy),
///     ServiceSpec::new("api", "true").depends_on("db", Condition::Started),
///     ServiceSpec::new("db", "true"),
/// ])
/// .unwrap();
/// assert_eq!(stack.start_order(), ["db", "api", "web"]);
///
/// let cycle = Stack::new(vec![
///     ServiceSpec::new("a", "true").depends_on("b", Condition::Started),
///     ServiceSpec::new("b", "true").depends_on("a", Condition::Started),
/// ]);
/// assert_eq!(cycle.unwrap_err().to_string(), "dependency cycle: a -> b -> a");
/// ```
#[derive(Debug, Clone)]
pub struct Stack {
    services: Vec<ServiceSpec>,
    /// Nodes carry the index into `services`; an edge goes from a dependent to its dependency.
    graph: DiGraph<usize, Condition>,
    by_name: HashMap<String, usize>,
    /// Indices into `services`, every dependency before its dependents.
    order: Vec<usize>,
}

impl Stack {
    /// Builds the graph, refusing duplicate or unusable names, unknown dependencies and cycles.
    pub fn new(services: Vec<ServiceSpec>) -> Result<Stack, StackError> {
        let mut by_name = HashMap::new();
        let mut graph = DiGraph::new();
        for (i, spec) in services.iter().enumerate() {
            if !valid_name(&spec.name) {
                return Err(StackError::InvalidName {
                    name: spec.name.clone(),
                });
            }
            if by_name.insert(spec.name.clone(), i).is_some() {
                return Err(StackError::DuplicateService {
                    name: spec.name.clone(),
                });
            }
            // Node i holds service i: indices agree.
            graph.add_node(i);
        }
        for (i, spec) in services.iter().enumerate() {
            for dep in &spec.depends_on {
                let Some(&j) = by_name.get(&dep.name) else {
                    return Err(StackError::UnknownDependency {
                        service: spec.name.clone(),
                        dependency: dep.name.clone(),
                    });
                };
                graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), dep.condition);
            }
        }
        if let Some(cycle) = find_cycle(&graph) {
            return Err(StackError::Cycle {
                cycle: cycle
                    .into_iter()
                    .map(|i| services[i].name.clone())
                    .collect(),
            });
        }
        let order = dependency_order(&graph);
        Ok(Stack {
            services,
            graph,
            by_name,
            order,
        })
    }

    /// The services, in the order given.
    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    /// A service by name.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.index_of(name).map(|i| &self.services[i])
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Service names, every dependency before its dependents (ties in definition order).
    pub fn start_order(&self) -> Vec<&str> {
        self.order
            .iter()
            .map(|&i| self.services[i].name.as_str())
            .collect()
    }

    /// Indices of the services `i` depends on directly, with the condition.
    pub(crate) fn dependencies_of(&self, i: usize) -> Vec<(usize, Condition)> {
        self.graph
            .edges(NodeIndex::new(i))
            .map(|e| (e.target().index(), *e.weight()))
            .collect()
    }

    /// Indices of the services that depend on `i` directly.
    pub(crate) fn dependents_of(&self, i: usize) -> Vec<usize> {
        self.graph
            .neighbors_directed(NodeIndex::new(i), petgraph::Direction::Incoming)
            .map(|n| n.index())
            .collect()
    }

    /// The named services and everything they depend on, directly or not, in start order.
    pub fn with_dependencies(&self, names: &[String]) -> Result<Vec<&str>, StackError> {
        Ok(self
            .closure(names)?
            .into_iter()
            .map(|i| self.services[i].name.as_str())
            .collect())
    }

    pub(crate) fn closure(&self, names: &[String]) -> Result<Vec<usize>, StackError> {
        let mut wanted = BTreeSet::new();
        let mut queue = VecDeque::new();
        for name in names {
            let i = self
                .index_of(name)
                .ok_or_else(|| StackError::UnknownService { name: name.clone() })?;
            queue.push_back(i);
        }
        while let Some(i) = queue.pop_front() {
            if wanted.insert(i) {
                queue.extend(self.dependencies_of(i).into_iter().map(|(j, _)| j));
            }
        }
        Ok(self
            .order
            .iter()
            .copied()
            .filter(|i| wanted.contains(i))
            .collect())
    }

    pub(crate) fn order(&self) -> &[usize] {
        &self.order
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A cycle as service indices with the first repeated at the end, or `None`. The cycle found
/// is the one through the earliest-defined service that is on any cycle, so the message is
/// the same on every run.
pub(crate) fn find_cycle(graph: &DiGraph<usize, Condition>) -> Option<Vec<usize>> {
    let cyclic: Vec<Vec<NodeIndex>> = tarjan_scc(graph)
        .into_iter()
        .filter(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
        .collect();
    let start = cyclic.iter().flatten().min()?;
    let members: BTreeSet<NodeIndex> = cyclic
        .iter()
        .find(|scc| scc.contains(start))?
        .iter()
        .copied()
        .collect();
    // Shortest way from `start` back to itself inside its component.
    let mut previous: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([*start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph
            .neighbors(node)
            .filter(|n| members.contains(n))
            .collect();
        next.sort();
        for n in next {
            if n == *start {
                // Walk back from `node` to `start`, then read the walk forwards.
                let mut back = Vec::new();
                let mut at = node;
                while at != *start {
                    back.push(at.index());
                    at = previous[&at];
                }
                back.reverse();
                let mut path = vec![start.index()];
                path.extend(back);
                path.push(start.index());
                return Some(path);
            }
            if !previous.contains_key(&n) && n != *start {
                previous.insert(n, node);
                queue.push_back(n);
            }
        }
    }
    None
}

/// A topological order with dependencies first; among ready services, definition order.
fn dependency_order(graph: &DiGraph<usize, Condition>) -> Vec<usize> {
    let n = graph.node_count();
    let mut pending: Vec<usize> = (0..n)
        .map(|i| graph.edges(NodeIndex::new(i)).count())
        .collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for dependent in graph.neighbors_directed(NodeIndex::new(i), petgraph::Direction::Incoming)
        {
            let d = dependent.index();
            pending[d] -= 1;
            if pending[d] == 0 {
                ready.insert(d);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, deps: &[&str]) -> ServiceSpec {
        deps.iter().fold(ServiceSpec::new(name, "true"), |s, d| {
            s.depends_on(*d, Condition::Started)
        })
    }

    #[test]
    fn a_cycle_is_named_whole() {
        let err = Stack::new(vec![
            svc("x", &[]),
            svc("a", &["b"]),
            svc("b", &["c"]),
            svc("c", &["a"]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            StackError::Cycle {
                cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
            }
        );
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");
    }

    #[test]
    fn a_self_dependency_is_a_cycle() {
        let err = Stack::new(vec![svc("a", &["a"])]).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> a");
    }

    #[test]
    fn the_cycle_reported_is_the_shortest_through_the_first_service() {
        // a -> b -> a and a -> c -> d -> a share a; the short one is reported.
        let err = Stack::new(vec![
            svc("a", &["c", "b"]),
            svc("b", &["a"]),
            svc("c", &["d"]),
            svc("d", &["a"]),
        ])
        .unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> a");
    }

    #[test]
    fn unknown_and_duplicate_names_are_refused() {
        assert_eq!(
            Stack::new(vec![svc("a", &["ghost"])]).unwrap_err(),
            StackError::UnknownDependency {
                service: "a".into(),
                dependency: "ghost".into()
            }
        );
        assert!(matches!(
            Stack::new(vec![svc("a", &[]), svc("a", &[])]),
            Err(StackError::DuplicateService { .. })
        ));
        assert!(matches!(
            Stack::new(vec![svc("a b", &[])]),
            Err(StackError::InvalidName { .. })
        ));
    }

    #[test]
    fn order_puts_dependencies_first_and_keeps_definition_order() {
        let stack = Stack::new(vec![
            svc("web", &["api", "cache"]),
            svc("api", &["db"]),
            svc("cache", &[]),
            svc("db", &[]),
            svc("docs", &[]),
        ])
        .unwrap();
        // Among services whose dependencies are met, the earliest defined goes first.
        assert_eq!(stack.start_order(), ["cache", "db", "api", "web", "docs"]);
    }

    #[test]
    fn a_selection_brings_its_dependencies() {
        let stack = Stack::new(vec![
            svc("web", &["api"]),
            svc("api", &["db"]),
            svc("db", &[]),
            svc("docs", &[]),
        ])
        .unwrap();
        assert_eq!(
            stack.with_dependencies(&["api".into()]).unwrap(),
            ["db", "api"]
        );
        assert!(matches!(
            stack.with_dependencies(&["nope".into()]),
            Err(StackError::UnknownService { .. })
        ));
    }
}
