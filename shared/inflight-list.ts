/**
 * The items in flight (responses not yet closed), as a doubly linked list: O(1) to add and to
 * remove, iterable when a drain starts.
 *
 * Not a `Set`, though a Set says the same thing. With a Set of responses, under sustained load
 * every response (and its request's whole object graph) outlived two minor GCs and was promoted:
 * the gateway's minor GCs went from 0.8 to 3.8 ms, with two full GCs a second; with this list
 * they stay at 0.8 ms (measured: docs/performance.md, item 29). Why, as far as we can tell: one
 * add and one delete per request keep V8 rehashing the Set's table, and each obsolete table,
 * left in the old generation until a full GC, still points at the responses it held; minor GCs
 * take such old-to-young pointers as roots.
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
