package parser

import "encoding/binary"

// Addresses in the tables are 32-bit words printed in the byte order of
// the host that produced them.

// order is how a Reader places the bytes of a 32-bit address word.
type order uint8

const (
	orderLittle order = iota
	orderBig
	orderOther // call Reader.ByteOrder.PutUint32
)

// orderOf returns how to place address bytes for r.ByteOrder.
func (r *Reader) orderOf() order {
	bo := r.ByteOrder
	if bo == nil {
		bo = binary.NativeEndian
	}
	// r.word, not a local array, which would escape to the heap.
	bo.PutUint32(r.word[:], 0x01020304)
	switch r.word {
	case [4]byte{4, 3, 2, 1}:
		return orderLittle
	case [4]byte{1, 2, 3, 4}:
		return orderBig
	}
	return orderOther
}

// putWord stores the address word v in b in r's byte order.
func (r *Reader) putWord(b []byte, v uint32) {
	switch r.order {
	case orderLittle:
		binary.LittleEndian.PutUint32(b, v)
	case orderBig:
		binary.BigEndian.PutUint32(b, v)
	default:
		r.ByteOrder.PutUint32(r.word[:], v)
		copy(b, r.word[:])
	}
}
