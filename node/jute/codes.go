package jute

import "strconv"

// OpCode is a request type (ZooDefs.OpCode).
type OpCode int32

// Op codes as ZooKeeper defines them.
const (
	OpNotification         OpCode = 0
	OpCreate               OpCode = 1
	OpDelete               OpCode = 2
	OpExists               OpCode = 3
	OpGetData              OpCode = 4
	OpSetData              OpCode = 5
	OpGetACL               OpCode = 6
	OpSetACL               OpCode = 7
	OpGetChildren          OpCode = 8
	OpSync                 OpCode = 9
	OpPing                 OpCode = 11
	OpGetChildren2         OpCode = 12
	OpCheck                OpCode = 13
	OpMulti                OpCode = 14
	OpCreate2              OpCode = 15
	OpReconfig             OpCode = 16
	OpCheckWatches         OpCode = 17
	OpRemoveWatches        OpCode = 18
	OpCreateContainer      OpCode = 19
	OpDeleteContainer      OpCode = 20
	OpCreateTTL            OpCode = 21
	OpMultiRead            OpCode = 22
	OpAuth                 OpCode = 100
	OpSetWatches           OpCode = 101
	OpSasl                 OpCode = 102
	OpGetEphemerals        OpCode = 103
	OpGetAllChildrenNumber OpCode = 104
	OpSetWatches2          OpCode = 105
	OpAddWatch             OpCode = 106
	OpWhoAmI               OpCode = 107
	OpCreateSession        OpCode = -10
	OpCloseSession         OpCode = -11
	OpError                OpCode = -1
)

var opNames = map[OpCode]string{
	OpNotification: "notification", OpCreate: "create", OpDelete: "delete",
	OpExists: "exists", OpGetData: "getData", OpSetData: "setData",
	OpGetACL: "getACL", OpSetACL: "setACL", OpGetChildren: "getChildren",
	OpSync: "sync", OpPing: "ping", OpGetChildren2: "getChildren2",
	OpCheck: "check", OpMulti: "multi", OpCreate2: "create2",
	OpReconfig: "reconfig", OpCheckWatches: "checkWatches",
	OpRemoveWatches: "removeWatches", OpCreateContainer: "createContainer",
	OpDeleteContainer: "deleteContainer", OpCreateTTL: "createTTL",
	OpMultiRead: "multiRead", OpAuth: "auth", OpSetWatches: "setWatches",
	OpSasl: "sasl", OpGetEphemerals: "getEphemerals",
	OpGetAllChildrenNumber: "getAllChildrenNumber", OpSetWatches2: "setWatches2",
	OpAddWatch: "addWatch", OpWhoAmI: "whoAmI", OpCreateSession: "createSession",
	OpCloseSession: "closeSession", OpError: "error",
}

func (o OpCode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Special xids (ClientCnxn).
const (
	XidWatchEvent int32 = -1 // server-initiated WatcherEvent notification
	XidPing       int32 = -2
	XidAuth       int32 = -4
	XidSetWatches int32 = -8 // the Java client's setWatches on reconnect
)

// ErrCode is a ZooKeeper error code (KeeperException.Code). The non-zero
// codes are errors, so a function can return ErrNoNode etc. as an error and
// callers match it with errors.As or ==.
type ErrCode int32

// Error codes as ZooKeeper defines them.
const (
	ZOK                           ErrCode = 0
	ZSYSTEMERROR                  ErrCode = -1
	ZRUNTIMEINCONSISTENCY         ErrCode = -2
	ZDATAINCONSISTENCY            ErrCode = -3
	ZCONNECTIONLOSS               ErrCode = -4
	ZMARSHALLINGERROR             ErrCode = -5
	ZUNIMPLEMENTED                ErrCode = -6
	ZOPERATIONTIMEOUT             ErrCode = -7
	ZBADARGUMENTS                 ErrCode = -8
	ZINVALIDSTATE                 ErrCode = -9
	ZUNKNOWNSESSION               ErrCode = -12
	ZNEWCONFIGNOQUORUM            ErrCode = -13
	ZRECONFIGINPROGRESS           ErrCode = -14
	ZAPIERROR                     ErrCode = -100
	ZNONODE                       ErrCode = -101
	ZNOAUTH                       ErrCode = -102
	ZBADVERSION                   ErrCode = -103
	ZNOCHILDRENFOREPHEMERALS      ErrCode = -108
	ZNODEEXISTS                   ErrCode = -110
	ZNOTEMPTY                     ErrCode = -111
	ZSESSIONEXPIRED               ErrCode = -112
	ZINVALIDCALLBACK              ErrCode = -113
	ZINVALIDACL                   ErrCode = -114
	ZAUTHFAILED                   ErrCode = -115
	ZCLOSING                      ErrCode = -116
	ZNOTHING                      ErrCode = -117
	ZSESSIONMOVED                 ErrCode = -118
	ZNOTREADONLY                  ErrCode = -119
	ZEPHEMERALONLOCALSESSION      ErrCode = -120
	ZNOWATCHER                    ErrCode = -121
	ZRECONFIGDISABLED             ErrCode = -123
	ZSESSIONCLOSEDREQUIRESASLAUTH ErrCode = -124
	ZQUOTAEXCEEDED                ErrCode = -125
	ZTHROTTLEDOP                  ErrCode = -127
)

var errNames = map[ErrCode]string{
	ZOK: "ZOK", ZSYSTEMERROR: "ZSYSTEMERROR", ZRUNTIMEINCONSISTENCY: "ZRUNTIMEINCONSISTENCY",
	ZDATAINCONSISTENCY: "ZDATAINCONSISTENCY", ZCONNECTIONLOSS: "ZCONNECTIONLOSS",
	ZMARSHALLINGERROR: "ZMARSHALLINGERROR", ZUNIMPLEMENTED: "ZUNIMPLEMENTED",
	ZOPERATIONTIMEOUT: "ZOPERATIONTIMEOUT", ZBADARGUMENTS: "ZBADARGUMENTS",
	ZINVALIDSTATE: "ZINVALIDSTATE", ZUNKNOWNSESSION: "ZUNKNOWNSESSION",
	ZNEWCONFIGNOQUORUM: "ZNEWCONFIGNOQUORUM", ZRECONFIGINPROGRESS: "ZRECONFIGINPROGRESS",
	ZAPIERROR: "ZAPIERROR", ZNONODE: "ZNONODE", ZNOAUTH: "ZNOAUTH",
	ZBADVERSION: "ZBADVERSION", ZNOCHILDRENFOREPHEMERALS: "ZNOCHILDRENFOREPHEMERALS",
	ZNODEEXISTS: "ZNODEEXISTS", ZNOTEMPTY: "ZNOTEMPTY", ZSESSIONEXPIRED: "ZSESSIONEXPIRED",
	ZINVALIDCALLBACK: "ZINVALIDCALLBACK", ZINVALIDACL: "ZINVALIDACL",
	ZAUTHFAILED: "ZAUTHFAILED", ZCLOSING: "ZCLOSING", ZNOTHING: "ZNOTHING",
	ZSESSIONMOVED: "ZSESSIONMOVED", ZNOTREADONLY: "ZNOTREADONLY",
	ZEPHEMERALONLOCALSESSION: "ZEPHEMERALONLOCALSESSION", ZNOWATCHER: "ZNOWATCHER",
	ZRECONFIGDISABLED:             "ZRECONFIGDISABLED",
	ZSESSIONCLOSEDREQUIRESASLAUTH: "ZSESSIONCLOSEDREQUIRESASLAUTH",
	ZQUOTAEXCEEDED:                "ZQUOTAEXCEEDED", ZTHROTTLEDOP: "ZTHROTTLEDOP",
}

func (c ErrCode) String() string {
	if s, ok := errNames[c]; ok {
		return s
	}
	return "ZERR(" + strconv.Itoa(int(c)) + ")"
}

// Error makes ErrCode usable as an error value. ZOK should never be returned
// as an error; it still prints sensibly if it is.
func (c ErrCode) Error() string { return "zookeeper error " + c.String() }

// EventType is a WatcherEvent type (Watcher.Event.EventType).
type EventType int32

// Event types.
const (
	EventNone                EventType = -1
	EventNodeCreated         EventType = 1
	EventNodeDeleted         EventType = 2
	EventNodeDataChanged     EventType = 3
	EventNodeChildrenChanged EventType = 4
)

func (t EventType) String() string {
	switch t {
	case EventNone:
		return "None"
	case EventNodeCreated:
		return "NodeCreated"
	case EventNodeDeleted:
		return "NodeDeleted"
	case EventNodeDataChanged:
		return "NodeDataChanged"
	case EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	}
	return "event(" + strconv.Itoa(int(t)) + ")"
}

// KeeperState is a WatcherEvent state (Watcher.Event.KeeperState).
type KeeperState int32

// Keeper states.
const (
	StateDisconnected      KeeperState = 0
	StateSyncConnected     KeeperState = 3
	StateAuthFailed        KeeperState = 4
	StateConnectedReadOnly KeeperState = 5
	StateSaslAuthenticated KeeperState = 6
	StateExpired           KeeperState = -112
	StateClosed            KeeperState = 7
)

// Create flags (CreateMode).
const (
	FlagEphemeral  int32 = 1
	FlagSequential int32 = 2
	FlagContainer  int32 = 4
	FlagTTL        int32 = 5
	// FlagPersistentSequentialTTL is 6; flags above 6 are invalid.
	FlagPersistentSequentialTTL int32 = 6
)

// ACL permission bits (ZooDefs.Perms).
const (
	PermRead   int32 = 1
	PermWrite  int32 = 2
	PermCreate int32 = 4
	PermDelete int32 = 8
	PermAdmin  int32 = 16
	PermAll    int32 = 31
)

// OpenACLUnsafe is ZooDefs.Ids.OPEN_ACL_UNSAFE: everything for everyone.
func OpenACLUnsafe() []ACL {
	return []ACL{{Perms: PermAll, ID: ID{Scheme: "world", ID: "anyone"}}}
}
