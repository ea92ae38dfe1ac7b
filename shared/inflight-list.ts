/**
 * The items in flight (responses not yet closed), as a doubly linked list: O(1) to add and to
 * remove, iterable when a drain starts. Not a `Set`: under sustained load a Set kept every
 * finished response alive through minor GCs (docs/performance.md, "what was tried", item 29).
 */
export class InflightList<T> {
  private head: InflightEntry<T> | undefined

  /** Adds `item`; hand the entry to `delete` to take it out again. */
  add (item: T): InflightEntry<T> {
    const entry: InflightEntry<T> = { item, prev: undefined, next: this.head, removed: false }
    if (this.head !== undefined) this.head.prev = entry
    this.head = entry
    return entry
  }

  /** Iterates the items in flight, newest first; the list must not change meanwhile. */
  * [Symbol.iterator] (): IterableIterator<T> {
    for (let e = this.head; e !== undefined; e = e.next) yield e.item
  }

  /**
   * Takes the entry out (again: nothing). Its links are cleared too: a removed entry that was
   * promoted must not point at younger ones.
   */
  delete (e: InflightEntry<T>): void {
    if (e.removed) return
    e.removed = true
    if (e.prev !== undefined) e.prev.next = e.next
    else this.head = e.next
    if (e.next !== undefined) e.next.prev = e.prev
    e.prev = e.next = undefined
  }
}

export interface InflightEntry<T> { readonly item: T, prev: InflightEntry<T> | undefined, next: InflightEntry<T> | undefined, removed: boolean }
