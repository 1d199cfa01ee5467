package kafka

import "strconv"

// API keys the parser looks into.
const (
	apiProduce       = 0
	apiFetch         = 1
	apiMetadata      = 3
	apiApiVersions   = 18
	maxAPIKey        = 99
	maxAPIVersion    = 30
	neverFlexible    = 127
	unknownFlexibleV = 0 // APIs newer than this table are flexible from v0
)

var apiNames = [...]string{
	"Produce", "Fetch", "ListOffsets", "Metadata", "LeaderAndIsr", "StopReplica", "UpdateMetadata",
	"ControlledShutdown", "OffsetCommit", "OffsetFetch", "FindCoordinator", "JoinGroup", "Heartbeat",
	"LeaveGroup", "SyncGroup", "DescribeGroups", "ListGroups", "SaslHandshake", "ApiVersions",
	"CreateTopics", "DeleteTopics", "DeleteRecords", "InitProducerId", "OffsetForLeaderEpoch",
	"AddPartitionsToTxn", "AddOffsetsToTxn", "EndTxn", "WriteTxnMarkers", "TxnOffsetCommit",
	"DescribeAcls", "CreateAcls", "DeleteAcls", "DescribeConfigs", "AlterConfigs",
	"AlterReplicaLogDirs", "DescribeLogDirs", "SaslAuthenticate", "CreatePartitions",
	"CreateDelegationToken", "RenewDelegationToken", "ExpireDelegationToken",
	"DescribeDelegationToken", "DeleteGroups", "ElectLeaders", "IncrementalAlterConfigs",
	"AlterPartitionReassignments", "ListPartitionReassignments", "OffsetDelete",
	"DescribeClientQuotas", "AlterClientQuotas", "DescribeUserScramCredentials",
	"AlterUserScramCredentials", "Vote", "BeginQuorumEpoch", "EndQuorumEpoch", "DescribeQuorum",
	"AlterPartition", "UpdateFeatures", "Envelope", "FetchSnapshot", "DescribeCluster",
	"DescribeProducers", "BrokerRegistration", "BrokerHeartbeat", "UnregisterBroker",
	"DescribeTransactions", "ListTransactions", "AllocateProducerIds", "ConsumerGroupHeartbeat",
	"ConsumerGroupDescribe", "ControllerRegistration", "GetTelemetrySubscriptions", "PushTelemetry",
	"AssignReplicasToDirs", "ListClientMetricsResources", "DescribeTopicPartitions",
}

func apiName(key int) string {
	if key >= 0 && key < len(apiNames) {
		return apiNames[key]
	}
	return "Api" + strconv.Itoa(key)
}

// firstFlexible is the first version of each API that uses the flexible
// encoding (tagged fields in headers, compact strings and arrays);
// neverFlexible for none. Keys past the table are flexible from v0
// (every API added since KIP-482).
var firstFlexible = [...]uint8{
	0: 9, 1: 12, 2: 6, 3: 9, 4: 4, 5: 2, 6: 6, 7: 3, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4,
	15: 5, 16: 3, 17: neverFlexible, 18: 3, 19: 5, 20: 4, 21: 2, 22: 2, 23: 4, 24: 3, 25: 3, 26: 3,
	27: 1, 28: 3, 29: 2, 30: 2, 31: 2, 32: 4, 33: 2, 34: 2, 35: 2, 36: 2, 37: 2, 38: 2, 39: 2,
	40: 2, 41: 2, 42: 2, 43: 2, 44: 1, 45: 0, 46: 0, 47: neverFlexible, 48: 1, 49: 1,
}

func flexible(key, version int) bool {
	if key >= 0 && key < len(firstFlexible) {
		return version >= int(firstFlexible[key])
	}
	return version >= unknownFlexibleV
}

// errorFirst: APIs whose response body starts with an error code in
// versions up to until, preceded by a throttle_time_ms from version
// throttleFrom on (-1: never).
var errorFirst = map[int]struct{ until, throttleFrom int }{
	apiApiVersions: {maxAPIVersion, -1}, // its throttle comes after the error code
	10:             {3, 1},              // FindCoordinator (v4+: an array of coordinators)
	11:             {maxAPIVersion, 2},  // JoinGroup
	12:             {maxAPIVersion, 1},  // Heartbeat
	13:             {maxAPIVersion, 1},  // LeaveGroup
	14:             {maxAPIVersion, 1},  // SyncGroup
	16:             {maxAPIVersion, 1},  // ListGroups
	17:             {maxAPIVersion, -1}, // SaslHandshake
	22:             {maxAPIVersion, 0},  // InitProducerId
	25:             {maxAPIVersion, 0},  // AddOffsetsToTxn
	26:             {maxAPIVersion, 0},  // EndTxn
	36:             {maxAPIVersion, -1}, // SaslAuthenticate
}

var errorNames = map[int]string{
	-1: "UNKNOWN_SERVER_ERROR", 1: "OFFSET_OUT_OF_RANGE", 2: "CORRUPT_MESSAGE",
	3: "UNKNOWN_TOPIC_OR_PARTITION", 4: "INVALID_FETCH_SIZE", 5: "LEADER_NOT_AVAILABLE",
	6: "NOT_LEADER_OR_FOLLOWER", 7: "REQUEST_TIMED_OUT", 8: "BROKER_NOT_AVAILABLE",
	9: "REPLICA_NOT_AVAILABLE", 10: "MESSAGE_TOO_LARGE", 13: "NETWORK_EXCEPTION",
	14: "COORDINATOR_LOAD_IN_PROGRESS", 15: "COORDINATOR_NOT_AVAILABLE", 16: "NOT_COORDINATOR",
	17: "INVALID_TOPIC_EXCEPTION", 18: "RECORD_LIST_TOO_LARGE", 19: "NOT_ENOUGH_REPLICAS",
	22: "ILLEGAL_GENERATION", 25: "UNKNOWN_MEMBER_ID", 27: "REBALANCE_IN_PROGRESS",
	29: "TOPIC_AUTHORIZATION_FAILED", 30: "GROUP_AUTHORIZATION_FAILED",
	31: "CLUSTER_AUTHORIZATION_FAILED", 33: "UNSUPPORTED_SASL_MECHANISM", 35: "UNSUPPORTED_VERSION",
	36: "TOPIC_ALREADY_EXISTS", 37: "INVALID_PARTITIONS", 41: "NOT_CONTROLLER", 42: "INVALID_REQUEST",
	47: "INVALID_PRODUCER_EPOCH", 58: "SASL_AUTHENTICATION_FAILED", 74: "FENCED_LEADER_EPOCH",
	75: "UNKNOWN_LEADER_EPOCH", 78: "MEMBER_ID_REQUIRED", 79: "PREFERRED_LEADER_NOT_AVAILABLE",
	87: "GROUP_MAX_SIZE_REACHED", 100: "UNKNOWN_TOPIC_ID",
}

func errorName(code int) string {
	if n, ok := errorNames[code]; ok {
		return n
	}
	return "ERROR_" + strconv.Itoa(code)
}
