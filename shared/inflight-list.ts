/**
 * The items in flight (responses not yet closed), as a doubly linked list: O(1) to add and to
 * remove, iterable when a drain starts.
 *
 * Not a `Set`, though a Set says the same thing: with one add and one delete per request, V8
 * rehashes the Set's table over and over, and each old table, left in the old generation until
 * the next full GC, still points at the responses it held. Minor GCs take such pointers as roots,
 * so every response (and the request's whole object graph) outlived two of them and was promoted.
 * Under sustained load the gateway's minor GCs went from 0.8 to 3.8 ms, with two full GCs a
 * second; with this list they stay at 0.8 ms (docs/performance.md).
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
