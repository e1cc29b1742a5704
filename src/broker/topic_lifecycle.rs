//! Creating, growing and deleting topics: each change is journalled
//! (`topic_change.rs`) before it touches a partition directory, and the
//! metadata file is its commit point, so a crash leaves a change that open
//! can roll back or finish, and nothing else is ever deleted. Deleting a
//! topic deletes the groups' committed offsets for it, as Kafka does.

use super::config::TopicConfig;
use super::error::BrokerError;
use super::offsets::OFFSETS_TOPIC;
use super::topic::{self, Topic, TopicMeta, validate_topic_name};
use super::topic_change::{self, ChangeKind, TopicChange};
use super::topic_id::TopicId;
use super::{
    Broker, TOPIC_META_SUFFIX, io_err, lock, metadata_err, open_partition, open_topic, read,
    warn_storage, write,
};
use crate::log;
use crate::log::storage::Storage;
use std::path::Path;
use std::sync::Arc;

impl Broker {
    /// Creates a topic with `config` (synchronous: its partitions exist when
    /// this returns).
    ///
    /// # Errors
    /// [`BrokerError::InvalidTopicName`], [`BrokerError::TopicExists`],
    /// [`BrokerError::InvalidPartitions`], or a storage error.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<(), BrokerError> {
        validate_topic_name(name)?;
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_owned(),
            });
        }
        if let Err(e) = self.create_topic_unchecked(name, config) {
            warn_storage("creating a topic failed", &e);
            return Err(e);
        }
        self.topics_changed();
        Ok(())
    }

    pub(crate) fn create_topic_unchecked(
        &self,
        name: &str,
        config: TopicConfig,
    ) -> Result<(), BrokerError> {
        self.check_open()?;
        let max = self
            .shared
            .config
            .max_partitions
            .min(topic::max_partitions_for(name));
        if config.partitions == 0 || config.partitions > max {
            return Err(BrokerError::InvalidPartitions {
                requested: config.partitions,
                current: 0,
                max,
            });
        }
        let _admin = lock(&self.shared.admin);
        if read(&self.shared.topics).contains_key(name) {
            return Err(BrokerError::TopicExists {
                topic: name.to_owned(),
            });
        }
        let s = &self.shared;
        let partitions = config.partitions;
        let meta = TopicMeta {
            name: name.to_owned(),
            id: TopicId::random(),
            config,
            created_ms: s.clock.now_ms(),
        };
        // Journal, logs, metadata: the metadata file is the commit point; a
        // crash before it rolls back only the directories the journal names.
        let change = TopicChange {
            kind: ChangeKind::Create,
            topic: name.to_owned(),
            from: 0,
            to: partitions,
        };
        topic_change::check_absent(&*s.storage, &s.dir, name, 0, partitions)?;
        change.begin(&*s.storage, &s.dir)?;
        let created = open_topic(&s.storage, &s.dir, &s.clock, meta.clone())
            .and_then(|topic| write_topic_meta(&*s.storage, &s.dir, &meta).map(|()| topic));
        let topic = match created {
            Ok(topic) => topic,
            Err(e) => return Err(self.roll_back(&change, e)),
        };
        topic_change::end(&*s.storage, &s.dir)?;
        // Every partition of every topic goes to the cleaner, whatever its
        // policy: it skips logs that do not compact at each pass, so a policy
        // changed later takes effect without registering again.
        if let Some(cleaner) = lock(&s.cleaner).as_ref() {
            for p in read(&topic.partitions).iter() {
                cleaner.add_log(Arc::clone(&p.log));
            }
        }
        write(&s.topics).insert(name.to_owned(), Arc::new(topic));
        Ok(())
    }

    /// Creates `name` with the default topic settings if auto-creation is on.
    pub(crate) fn topic_or_auto_create(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        match self.topic(name) {
            Err(BrokerError::UnknownTopic { .. }) if self.shared.config.auto_create_topics => {
                match self.create_topic(name, self.shared.config.default_topic.clone()) {
                    Ok(()) | Err(BrokerError::TopicExists { .. }) => self.topic(name),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    /// Deletes a topic, all its data and the groups' committed offsets for
    /// it (as Kafka does), so a topic created again under the same name
    /// starts with no committed offsets.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::InternalTopic`], or a storage error.
    pub fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_owned(),
            });
        }
        let topic = self.topic(name)?;
        let s = &self.shared;
        {
            let _admin = lock(&s.admin);
            if !read(&s.topics).contains_key(name) {
                return Err(BrokerError::UnknownTopic {
                    topic: name.to_owned(),
                });
            }
            // The journal first: from then on a crash finishes the delete
            // on the next open, offsets included.
            let change = TopicChange {
                kind: ChangeKind::Delete,
                topic: name.to_owned(),
                from: 0,
                to: topic.partition_count(),
            };
            change.begin(&*s.storage, &s.dir)?;
            write(&s.topics).remove(name);
            self.delete_offsets_of_topic(name)?;
            let meta = s.dir.join(format!("{name}{TOPIC_META_SUFFIX}"));
            s.storage
                .remove_file(&meta)
                .map_err(io_err("remove topic metadata", &meta))?;
            for p in 0..change.to {
                let path = topic::partition_dir(&s.dir, name, p);
                if let Some(cleaner) = lock(&s.cleaner).as_ref() {
                    cleaner.remove_log(&path);
                }
            }
            topic_change::remove_partitions(&*s.storage, &s.dir, name, 0, change.to)?;
            topic_change::end(&*s.storage, &s.dir)?;
        }
        self.topics_changed();
        Ok(())
    }

    /// Undoes a create or grow that failed midway: removes the partition
    /// directories its journal names (they were absent before it began),
    /// then the journal. Returns the error that made it fail; if the
    /// rollback fails too, the journal stays and the next open finishes it.
    fn roll_back(&self, change: &TopicChange, cause: BrokerError) -> BrokerError {
        let s = &self.shared;
        warn_storage("a topic change failed; rolling it back", &cause);
        let undone = topic_change::remove_partitions(
            &*s.storage,
            &s.dir,
            &change.topic,
            change.from,
            change.to,
        )
        .and_then(|()| topic_change::end(&*s.storage, &s.dir));
        if let Err(e) = undone {
            warn_storage("rolling back a topic change failed; the next open will", &e);
        }
        cause
    }

    /// Grows `name` to `partitions` partitions; groups subscribed to it rebalance.
    ///
    /// # Errors
    /// [`BrokerError::InvalidPartitions`] unless `partitions` is above the
    /// current count and within the maximum; [`BrokerError::UnknownTopic`];
    /// [`BrokerError::InternalTopic`]; or a storage error.
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<(), BrokerError> {
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_owned(),
            });
        }
        let topic = self.topic(name)?;
        let s = &self.shared;
        {
            let _admin = lock(&s.admin);
            let current = topic.partition_count();
            let max = s.config.max_partitions.min(topic::max_partitions_for(name));
            if partitions <= current || partitions > max {
                return Err(BrokerError::InvalidPartitions {
                    requested: partitions,
                    current,
                    max,
                });
            }
            let log_config = read(&topic.config).log_config();
            let change = TopicChange {
                kind: ChangeKind::Grow,
                topic: name.to_owned(),
                from: current,
                to: partitions,
            };
            topic_change::check_absent(&*s.storage, &s.dir, name, current, partitions)?;
            change.begin(&*s.storage, &s.dir)?;
            let mut meta = topic.meta();
            meta.config.partitions = partitions;
            let grown = (current..partitions)
                .map(|p| {
                    let config = log_config.clone();
                    open_partition(
                        &s.storage,
                        &s.dir,
                        &s.clock,
                        name,
                        p,
                        config,
                        &topic.metrics,
                    )
                    .map(Arc::new)
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|new| write_topic_meta(&*s.storage, &s.dir, &meta).map(|()| new));
            let new = match grown {
                Ok(new) => new,
                Err(e) => return Err(self.roll_back(&change, e)),
            };
            topic_change::end(&*s.storage, &s.dir)?;
            write(&topic.config).partitions = partitions;
            if let Some(cleaner) = lock(&s.cleaner).as_ref() {
                for p in &new {
                    cleaner.add_log(Arc::clone(&p.log));
                }
            }
            write(&topic.partitions).extend(new);
        }
        self.topics_changed();
        Ok(())
    }
}

/// Writes a topic's metadata file atomically, through a temp file whose
/// name fits the file-name limit whatever the topic name's length.
pub(crate) fn write_topic_meta(
    storage: &dyn Storage,
    dir: &Path,
    meta: &TopicMeta,
) -> Result<(), BrokerError> {
    let file = format!("{}{TOPIC_META_SUFFIX}", meta.name);
    let temp = topic::meta_temp_name(&meta.name);
    log::write_atomically_via(storage, dir, &temp, &file, &meta.encode())
        .map_err(metadata_err(dir.join(&file)))
}
