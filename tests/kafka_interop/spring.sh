#!/usr/bin/env bash
# A small Spring Boot 4 / Spring Kafka application (spring/pom.xml), built with
# Maven (jars cached in ~/.m2): NewTopic beans, a @KafkaListener, and a
# DefaultErrorHandler with a DeadLetterPublishingRecoverer.
source "$(dirname "$0")/lib.sh"
cd "$interop_dir/spring"
if [[ ! -f target/.built ]] || [[ pom.xml -nt target/.built ]] || [[ -n "$(find src -newer target/.built -print -quit)" ]]; then
    mkdir -p target
    mvn -B -q -Dstyle.color=never package >target/maven.log 2>&1 || { cat target/maven.log >&2; exit 1; }
    touch target/.built
fi
INTEROP_RUN="$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')" exec java -jar target/spring-interop-1.jar
