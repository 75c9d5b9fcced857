// Package attention owns the attention tracker: who (viewer = user and browser
// tab) looks at which sensor and attribute, and how (in view, hovering with a
// 2 s linger, focused, pinned, page hidden, battery caps, open Watch streams),
// kept as leases that every report renews. It computes each sensor's and
// attribute's Level and announces changes, including those caused by expiring
// leases, to its subscribers.
package attention
