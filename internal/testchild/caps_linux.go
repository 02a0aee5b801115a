package testchild

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// SetFileCaps writes what `setcap CAPS+ep FILE` writes: the
// security.capability attribute of path, a struct vfs_cap_data of
// revision 2 (include/uapi/linux/capability.h) with caps permitted and the
// effective flag.
func SetFileCaps(path string, caps ...uintptr) error {
	var permitted uint64
	for _, c := range caps {
		permitted |= 1 << c
	}
	const (
		vfsCapRevision2     = 0x02000000
		vfsCapFlagEffective = 0x000001
	)
	data := make([]byte, 20) // magic_etc, then {permitted, inheritable} x 2
	binary.LittleEndian.PutUint32(data[0:], vfsCapRevision2|vfsCapFlagEffective)
	binary.LittleEndian.PutUint32(data[4:], uint32(permitted))
	binary.LittleEndian.PutUint32(data[12:], uint32(permitted>>32))
	return unix.Setxattr(path, "security.capability", data, 0)
}
