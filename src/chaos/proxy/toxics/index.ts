// Importing this module registers every built-in toxic type.
import './bandwidth.js'
import './latency.js'
import './limit-data.js'
import './reset-peer.js'
import './slicer.js'
import './slow-close.js'
import './timeout.js'
