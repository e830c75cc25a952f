/**
 * The one tree walker (cx `walk_node_tree`): depth first, without
 * recursion, so a deep tree cannot exhaust the stack. Children are taken
 * one at a time from an iterator, so a source that has side effects per
 * child (a transaction's overlay records each first access) sees the same
 * order as a recursive walk: a node's whole subtree before its next sibling.
 */
import type { Node } from "./node.js";
import { childPath } from "./path.js";

export interface Visitor<N> {
  /** Before the children; `false` skips them (and this node's `exit`). */
  enter?(path: string, node: N, parent: N | null): boolean | void;
  /** After the children (post-order). */
  exit?(path: string, node: N, parent: N | null): void;
}

/** Where the walker gets a node's children from: `[path, child]` pairs, in listing order. */
export type ChildSource<N> = (path: string, node: N) => Iterator<readonly [string, N]> | null;

interface Frame<N> {
  readonly path: string;
  readonly node: N;
  readonly kids: Iterator<readonly [string, N]> | null;
}

export function walk<N>(path: string, node: N, children: ChildSource<N>, visitor: Visitor<N>): void {
  if (visitor.enter?.(path, node, null) === false) return;
  const stack: Frame<N>[] = [{ path, node, kids: children(path, node) }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const next = top.kids?.next();
    if (next && !next.done) {
      const [p, child] = next.value;
      if (visitor.enter?.(p, child, top.node) !== false) stack.push({ path: p, node: child, kids: children(p, child) });
      continue;
    }
    stack.pop();
    visitor.exit?.(top.path, top.node, stack.length ? stack[stack.length - 1]!.node : null);
  }
}

/** Children of an immutable node, as an iterator over its array (cheaper than a generator). */
class NodeChildren implements Iterator<readonly [string, Node]> {
  private i = 0;
  constructor(
    private readonly path: string,
    private readonly kids: readonly Node[],
  ) {}
  next(): IteratorResult<readonly [string, Node]> {
    if (this.i >= this.kids.length) return { done: true, value: undefined };
    const kid = this.kids[this.i++]!;
    return { done: false, value: [childPath(this.path, kid.name), kid] };
  }
}

/** The children of an immutable node. */
const treeChildren: ChildSource<Node> = (path, node) => (node.children ? new NodeChildren(path, node.children.nodes()) : null);

/** Walk an immutable (sub)tree. */
export function walkTree(path: string, node: Node, visitor: Visitor<Node>): void {
  walk(path, node, treeChildren, visitor);
}
