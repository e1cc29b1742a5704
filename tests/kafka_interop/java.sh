#!/usr/bin/env bash
# The Apache Kafka Java client (pinned in java/pom.xml), built with Maven
# (the jars cached in ~/.m2): producer, consumer group, AdminClient.
source "$(dirname "$0")/lib.sh"
cd "$interop_dir/java"
if [[ ! -f target/.built ]] || [[ pom.xml -nt target/.built ]] || [[ -n "$(find src -newer target/.built -print -quit)" ]]; then
    mkdir -p target
    mvn -B -q -Dstyle.color=never package >target/maven.log 2>&1 || { cat target/maven.log >&2; exit 1; }
    touch target/.built
fi
exec java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "target/classes:target/lib/*" interop.JavaClientScenarios
